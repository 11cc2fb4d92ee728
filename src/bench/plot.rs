//! PNG charts for `llmzip bench --plot`, drawn with plotters. Text needs a TrueType font:
//! `LLMZIP_FONT`, else a few usual system paths; none found is an error with a hint.

use plotters::prelude::*;

use super::Row;
use crate::error::{Error, Result};

const FONT_PATHS: [&str; 5] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
];

fn register_font() -> Result<()> {
    let path = std::env::var_os("LLMZIP_FONT")
        .map(std::path::PathBuf::from)
        .or_else(|| FONT_PATHS.iter().map(std::path::PathBuf::from).find(|p| p.exists()))
        .ok_or_else(|| {
            Error::Invalid("--plot needs a TrueType font: set LLMZIP_FONT=/path/to/DejaVuSans.ttf".into())
        })?;
    let bytes = std::fs::read(&path).map_err(|e| Error::io(format!("reading font {}", path.display()), e))?;
    // plotters keeps registered fonts for the life of the process
    plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(bytes.into_boxed_slice()))
        .map_err(|_| Error::Invalid(format!("{} is not a usable TrueType font", path.display())))
}

fn plot_err(e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("drawing the chart failed: {e}"))
}

/// Grouped bars: bits per byte for each file (groups) and compressor (colours).
pub fn bits_per_byte_chart(rows: &[Row], path: &std::path::Path) -> Result<()> {
    register_font()?;
    let mut files: Vec<&str> = Vec::new();
    let mut tools: Vec<&str> = Vec::new();
    for r in rows {
        if !files.contains(&r.file.as_str()) {
            files.push(&r.file);
        }
        if !tools.contains(&r.compressor.as_str()) {
            tools.push(&r.compressor);
        }
    }
    let top = rows.iter().map(|r| r.bits_per_byte).fold(0.0, f64::max).max(1.0) * 1.15;
    let root = BitMapBackend::new(path, (240 + 140 * files.len() as u32, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("bits per byte (lower is better)", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..files.len() as f64, 0f64..top)
        .map_err(plot_err)?;
    let labels = files.clone();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(files.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 1e-6 && i < labels.len() {
                labels[i].to_string()
            } else {
                String::new()
            }
        })
        .y_desc("bits/byte")
        .draw()
        .map_err(plot_err)?;
    let width = 0.8 / tools.len() as f64;
    for (ti, tool) in tools.iter().enumerate() {
        let color = Palette99::pick(ti).to_rgba();
        let bars: Vec<_> = rows
            .iter()
            .filter(|r| r.compressor == *tool)
            .filter_map(|r| {
                let fi = files.iter().position(|f| *f == r.file)? as f64;
                let x0 = fi + 0.1 + ti as f64 * width;
                Some(Rectangle::new([(x0, 0.0), (x0 + width * 0.9, r.bits_per_byte)], color.filled()))
            })
            .collect();
        chart
            .draw_series(bars)
            .map_err(plot_err)?
            .label(*tool)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(plot_err)?;
    root.present().map_err(plot_err)
}

/// Lines of `(x, y)` points, one per named series, e.g. reconstruction accuracy against
/// fine-tuning epochs.
pub fn line_chart(
    series: &[(String, Vec<(f64, f64)>)],
    title: &str,
    x_desc: &str,
    y_desc: &str,
    path: &std::path::Path,
) -> Result<()> {
    register_font()?;
    let xmax = series.iter().flat_map(|s| s.1.iter().map(|p| p.0)).fold(1.0, f64::max);
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..xmax, 0f64..100f64)
        .map_err(plot_err)?;
    chart.configure_mesh().x_desc(x_desc).y_desc(y_desc).draw().map_err(plot_err)?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .map_err(plot_err)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled()))).map_err(plot_err)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(plot_err)?;
    root.present().map_err(plot_err)
}
