//! Damaged input never comes back as wrong output; compression is deterministic.

mod common;

use assert_cmd::Command;
use llmzip::coding::Method;
use llmzip::container::Header;
use llmzip::{Compressor, Decompressor, Hooks, Model, Options};
use predicates::prelude::*;

fn decode_all(m: &Model, z: &[u8]) -> llmzip::Result<Vec<u8>> {
    let mut out = Vec::new();
    Decompressor::new(m, 1).decompress(z, &mut out, &Hooks::default())?;
    Ok(out)
}

fn small_file(m: &Model, method: Method) -> (Vec<u8>, Vec<u8>) {
    let data = b"Once upon a time, [MASK] a small file\r\nwith \xff odd bytes.\n".to_vec();
    let mut o = Options { method, block_size: 40, ..Options::default() };
    o.plan.window = 16;
    o.plan.context = 8;
    let c = Compressor::new(m, o).unwrap();
    let mut z = Vec::new();
    c.compress(&data[..], &mut z, &Hooks::default()).unwrap();
    (data, z)
}

/// Every truncation and every single-byte change of a small file of each method is detected.
#[test]
fn every_truncation_and_byte_change_is_detected() {
    let m = common::load("tiny-bert");
    let mut tried = 0u64;
    for method in [Method::Arith, Method::Mask] {
        let (data, z) = small_file(&m, method);
        assert_eq!(decode_all(&m, &z).unwrap(), data);
        for len in 0..z.len() {
            assert!(decode_all(&m, &z[..len]).is_err(), "{method:?}: truncation to {len} bytes not detected");
            tried += 1;
        }
        let mut bad = z.clone();
        for i in 0..z.len() {
            for v in 0..=255u8 {
                if v == z[i] {
                    continue;
                }
                bad[i] = v;
                // a change may only ever give an error, never other bytes
                match decode_all(&m, &bad) {
                    Err(_) => {}
                    Ok(out) => panic!("{method:?}: byte {i} set to {v} decoded to {} bytes", out.len()),
                }
                tried += 1;
            }
            bad[i] = z[i];
        }
    }
    eprintln!("corruptions tried and detected: {tried}");
}

#[test]
fn hostile_header_lengths_are_refused_without_allocating() {
    let m = common::load("tiny-bert");
    let (_, z) = small_file(&m, Method::Arith);
    let mut r = &z[..];
    Header::read(&mut r).unwrap().unwrap();
    let hlen = z.len() - r.len();
    // a block record claiming 4 GiB lengths (varints of u32::MAX), with a valid-looking tag
    let mut bad = z[..hlen].to_vec();
    bad.push(1);
    for _ in 0..3 {
        bad.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    }
    bad.extend_from_slice(&[0; 8]);
    let err = decode_all(&m, &bad).unwrap_err().to_string();
    assert!(err.contains("out of range"), "{err}");
}

#[test]
fn compression_is_deterministic() {
    let m = common::load("tiny-roberta");
    let text = "determinism matters: the decoder repeats the encoder's computation.\n".repeat(30);
    let c = Compressor::new(&m, Options::default()).unwrap();
    let mut a = Vec::new();
    let mut b = Vec::new();
    c.compress(text.as_bytes(), &mut a, &Hooks::default()).unwrap();
    c.compress(text.as_bytes(), &mut b, &Hooks::default()).unwrap();
    assert_eq!(a, b);
}

/// Thread count changes how candle splits matrix products, never the numbers: files made
/// with --threads 1 and 2 are identical and decode under either (real default model).
#[test]
fn threads_do_not_change_the_bytes() {
    let d = tempfile::tempdir().unwrap();
    let text = "It was a bright cold day in April, and the clocks were striking thirteen.\n".repeat(60);
    std::fs::write(d.path().join("t.txt"), &text).unwrap();
    let mut outs = Vec::new();
    for threads in ["1", "2"] {
        let o = Command::cargo_bin("llmzip")
            .unwrap()
            .current_dir(d.path())
            .args(["compress", "-c", "--threads", threads, "t.txt"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        outs.push(o);
    }
    assert_eq!(outs[0], outs[1], "--threads 1 and 2 gave different files");
    for threads in ["1", "2"] {
        Command::cargo_bin("llmzip")
            .unwrap()
            .current_dir(d.path())
            .args(["decompress", "--threads", threads])
            .write_stdin(outs[0].clone())
            .assert()
            .success()
            .stdout(text.clone());
    }
}

/// Blocks coded side by side (--jobs) give the same file as one at a time, and any file
/// decodes the same with any number of jobs.
#[test]
fn jobs_do_not_change_the_bytes() {
    let d = tempfile::tempdir().unwrap();
    let text = "Blocks are independent, so they can be coded at once.\n".repeat(40);
    std::fs::write(d.path().join("t.txt"), &text).unwrap();
    let tiny = common::fixture("tiny-roberta");
    let mut outs = Vec::new();
    for jobs in ["1", "3", "16"] {
        let o = Command::cargo_bin("llmzip")
            .unwrap()
            .current_dir(d.path())
            .args(["compress", "-c", "--block-size", "300", "--jobs", jobs, "t.txt", "--model"])
            .arg(&tiny)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        outs.push(o);
    }
    assert!(outs.iter().all(|o| o == &outs[0]), "--jobs changed the file");
    for jobs in ["1", "2", "7"] {
        Command::cargo_bin("llmzip")
            .unwrap()
            .current_dir(d.path())
            .args(["decompress", "--jobs", jobs, "--model"])
            .arg(&tiny)
            .write_stdin(outs[0].clone())
            .assert()
            .success()
            .stdout(text.clone());
    }
    // a damaged block among several decoded at once is still refused, with nothing written
    let mut bad = outs[0].clone();
    let at = bad.len() / 2;
    bad[at] ^= 1;
    Command::cargo_bin("llmzip")
        .unwrap()
        .current_dir(d.path())
        .args(["decompress", "--jobs", "4", "-o", "out.txt", "-", "--model"])
        .arg(&tiny)
        .write_stdin(bad)
        .assert()
        .failure();
    assert!(!d.path().join("out.txt").exists());
}

#[test]
fn read_only_directory_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("t.txt"), "some text\n").unwrap();
    let ro = d.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    let mut perm = std::fs::metadata(&ro).unwrap().permissions();
    use std::os::unix::fs::PermissionsExt;
    perm.set_mode(0o555);
    std::fs::set_permissions(&ro, perm).unwrap();
    // Root ignores directory permissions; sysfs refuses new files even to root, so it stands
    // in for a directory we may not write to.
    let target = if std::fs::write(ro.join("probe"), "x").is_err() {
        "ro/t.txt.llmz".to_string()
    } else if std::fs::write("/sys/llmzip-probe", "x").is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied)
    {
        "/sys/t.txt.llmz".to_string()
    } else {
        eprintln!("skipped: no directory this user may not write to");
        return;
    };
    let dir = std::path::Path::new(&target).parent().unwrap().display().to_string();
    Command::cargo_bin("llmzip")
        .unwrap()
        .current_dir(d.path())
        .args(["compress", "t.txt", "-o", &target, "--model", common::fixture("tiny-bert").to_str().unwrap()])
        .assert()
        .code(1)
        .stderr(
            predicates::str::contains(format!("cannot create a file in {dir}"))
                .and(predicates::str::contains("hint: check the permissions")),
        );
    assert_eq!(std::fs::read_to_string(d.path().join("t.txt")).unwrap(), "some text\n");
}

/// Plans the fuzz seeds cover: (method/mix, window, context, rounds, shape/lanes, batch),
/// as `llmzip::fuzz::decode_block` reads them.
const SEED_SETTINGS: [[u8; 6]; 6] = [
    [2, 2, 2, 0, 6, 3], // arith, mixed, W16 C8 R1, 32 lanes, batch 4
    [0, 3, 3, 3, 0, 0], // arith, LM only, W32 C16 R4, lockstep, batch 1
    [0, 1, 1, 1, 3, 7], // arith, W8 C4 R2 uniform, 1 lane, batch 8
    [1, 2, 2, 0, 6, 3], // mask, W16 C8
    [1, 0, 0, 0, 4, 0], // mask, W4 C0, 4 lanes
    [3, 3, 1, 2, 2, 1], // mask (mix bit ignored), W32 C4 R3, 1 lane
];

fn seed_texts() -> [&'static [u8]; 3] {
    [b"The cat sat on the mat. ", b"", b"Odd bytes \xff\xfe\r\n[MASK]<s> and \xe2\x82\xac.\n"]
}

/// The fuzz harness reaches a real decode: each seed it is given decodes to its text.
#[test]
fn fuzz_decode_harness_round_trips_its_seeds() {
    let m = common::load("tiny-roberta");
    for s in SEED_SETTINGS {
        for text in seed_texts() {
            let seed = llmzip::fuzz::decode_block_seed(&m, s, text).unwrap();
            assert_eq!(llmzip::fuzz::decode_block(&m, &seed).as_deref(), Some(text), "settings {s:?}");
            // a damaged payload is refused (or, where the flipped bit was unused, still decodes
            // to the text): never other bytes
            for at in llmzip::fuzz::DECODE_CONTROL..seed.len() {
                let mut bad = seed.clone();
                bad[at] ^= 0x10;
                let got = llmzip::fuzz::decode_block(&m, &bad);
                assert!(got.is_none() || got.as_deref() == Some(text), "settings {s:?}, byte {at}");
            }
        }
    }
}

/// Every input the fuzzers found or were seeded with (fuzz/seeds, fuzz/regressions) is
/// replayed: none may panic.
#[test]
fn fuzz_inputs_are_handled() {
    let m = common::load("tiny-roberta");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut replayed = 0;
    for kind in ["seeds", "regressions"] {
        for target in ["container", "decode_block"] {
            let Ok(dir) = std::fs::read_dir(root.join(kind).join(target)) else { continue };
            for f in dir {
                let data = std::fs::read(f.unwrap().path()).unwrap();
                match target {
                    "container" => drop(llmzip::fuzz::container(&data)),
                    _ => drop(llmzip::fuzz::decode_block(&m, &data)),
                }
                replayed += 1;
            }
        }
    }
    assert!(replayed > 0, "no fuzz inputs found under {}", root.display());
}

/// Writes the fuzz seed corpus: `cargo test --release --test reliability write_fuzz_seeds -- --ignored`.
#[test]
#[ignore]
fn write_fuzz_seeds() {
    let m = common::load("tiny-roberta");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    for t in ["container", "decode_block"] {
        std::fs::create_dir_all(root.join(t)).unwrap();
    }
    for (i, s) in SEED_SETTINGS.iter().enumerate() {
        for (j, text) in seed_texts().iter().enumerate() {
            let seed = llmzip::fuzz::decode_block_seed(&m, *s, text).unwrap();
            std::fs::write(root.join(format!("decode_block/seed-{i}-{j}")), seed).unwrap();
        }
    }
    for method in [Method::Arith, Method::Mask] {
        let (_, z) = small_file(&m, method);
        std::fs::write(root.join(format!("container/small-{method:?}.llmz").to_lowercase()), &z).unwrap();
        // two members, concatenated
        std::fs::write(root.join(format!("container/two-{method:?}.llmz").to_lowercase()), [&z[..], &z[..]].concat())
            .unwrap();
    }
}

/// A file whose probabilities came from other numerics (the GPU's, say) is refused before
/// any work, naming both.
#[test]
fn other_numerics_are_refused_up_front() {
    let m = common::load("tiny-roberta");
    let (_, z) = small_file(&m, Method::Arith);
    let mut r = &z[..];
    let mut h = Header::read(&mut r).unwrap().unwrap();
    h.numerics = "candle-0.9.2/cuda/f32".into();
    let other = [h.to_bytes().as_slice(), r].concat();
    let err = decode_all(&m, &other).expect_err("must be refused");
    assert!(matches!(err, llmzip::Error::Numerics { .. }), "{err}");
    assert!(err.to_string().contains("cuda") && err.hint().unwrap().contains("--device"));
}

/// What `-v` and `bench --paper` report is what was written (statistics must not add up a
/// framing of their own), for every method and for empty, tiny and binary input.
#[test]
fn reported_size_is_the_size_written() {
    let m = common::load("tiny-roberta");
    let texts: [&[u8]; 4] = [b"", b"a", b"one line of text, and another one.\n", b"\xff\xfe\x00 binary \x80"];
    for method in [Method::Arith, Method::Mask] {
        let c = Compressor::new(&m, Options { method, ..Options::default() }).unwrap();
        for t in texts {
            let mut out = Vec::new();
            let st = c.compress(t, &mut out, &Hooks::default()).unwrap();
            assert_eq!(st.bytes_out, out.len() as u64, "{method:?} {t:?}");
        }
    }
}
