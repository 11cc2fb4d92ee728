//! Why a `--device` cannot be used, as one line and a hint. Kept apart from the GPU code so
//! that the wording is built, and tested, on machines and builds without a GPU.

use std::fmt;

use super::DeviceSpec;
use crate::error::Error;

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// What is wrong with the device asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unusable {
    /// This build has no GPU code for the model; `integer_only`: it has the integer engine's
    /// kernels but the model is a float one.
    NotBuilt { integer_only: bool },
    /// No GPU has that number. `count`: the GPUs there are, when the driver could say;
    /// `integer`: the model runs on the integer engine (its files decode on any device).
    NoSuchGpu { count: Option<usize>, integer: bool },
    /// The CUDA driver library could not be loaded (a machine without a GPU, or its
    /// directory not on the library path).
    NoDriver,
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unusable::NotBuilt { integer_only: false } => f.write_str("this build has no CUDA support"),
            Unusable::NotBuilt { integer_only: true } => {
                f.write_str("this build runs only integer models on the GPU, and this model is a float one")
            }
            Unusable::NoSuchGpu { count: None, .. } => {
                f.write_str("no such GPU (the CUDA driver did not say how many there are)")
            }
            Unusable::NoSuchGpu { count: Some(0), .. } => f.write_str("no such GPU: this machine has no CUDA GPU"),
            Unusable::NoSuchGpu { count: Some(1), .. } => f.write_str("no such GPU: this machine has 1 (cuda:0)"),
            Unusable::NoSuchGpu { count: Some(n), .. } => {
                write!(f, "no such GPU: this machine has {n} (cuda:0 to cuda:{})", n - 1)
            }
            Unusable::NoDriver => f.write_str("the CUDA driver library (libcuda.so.1) could not be loaded"),
        }
    }
}

impl Unusable {
    pub fn hint(&self) -> &'static str {
        match self {
            Unusable::NotBuilt { integer_only: false } => {
                "use --device cpu (files of integer models decode the same on any device), or a build with --features int8-cuda or cuda"
            }
            Unusable::NotBuilt { integer_only: true } => {
                "use --device cpu, or a build with --features cuda for float models on the GPU"
            }
            Unusable::NoDriver => {
                "use --device cpu (files of integer models decode the same on any device), or put the driver's directory on LD_LIBRARY_PATH"
            }
            Unusable::NoSuchGpu { count: Some(0), .. } => {
                "use --device cpu (files of integer models decode the same on any device)"
            }
            Unusable::NoSuchGpu { integer: true, .. } => {
                "use --device cuda:0 (nvidia-smi lists the GPUs) or --device cpu; integer files decode the same on any device"
            }
            Unusable::NoSuchGpu { integer: false, .. } => {
                "use --device cuda:0 (nvidia-smi lists the GPUs); a float model's file decodes only on the kind of device that made it"
            }
        }
    }
}

/// How opening a GPU failed, as the driver reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenFailure {
    /// the driver's "invalid device ordinal"
    InvalidDevice,
    /// the driver found no GPU at all
    NoDevice,
    /// anything else (out of memory, a busy or broken GPU, …)
    Other,
}

/// Whether GPU `ordinal` failed to open because it is not there, and if so the error to show
/// (`asked` names where the number came from, e.g. "--device cuda:7"). `count` is the driver's
/// number of GPUs when it could be read. Other failures (None) keep the driver's own message.
pub fn missing_gpu(
    asked: &str,
    ordinal: usize,
    failure: OpenFailure,
    count: Option<usize>,
    integer: bool,
) -> Option<Error> {
    let count = if failure == OpenFailure::NoDevice { Some(0) } else { count };
    let missing = failure != OpenFailure::Other || count.is_some_and(|c| ordinal >= c);
    missing.then(|| Error::Device { asked: asked.to_string(), problem: Unusable::NoSuchGpu { count, integer } })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(e: &Error) -> String {
        format!("{e}\n  hint: {}", e.hint().unwrap_or("(none)"))
    }

    #[test]
    fn an_invalid_ordinal_names_the_device_and_the_gpus_there_are() {
        let e = missing_gpu("--device cuda:7", 7, OpenFailure::InvalidDevice, Some(1), true).unwrap();
        let s = line(&e);
        assert!(s.starts_with("--device cuda:7: no such GPU: this machine has 1 (cuda:0)"), "{s}");
        assert!(s.contains("--device cpu") && s.contains("integer files decode the same"), "{s}");
        assert!(!s.contains("DriverError"), "{s}");

        let e = missing_gpu("--device cuda:4", 4, OpenFailure::InvalidDevice, Some(4), true).unwrap();
        assert!(e.to_string().ends_with("this machine has 4 (cuda:0 to cuda:3)"), "{e}");
    }

    #[test]
    fn an_unknown_count_is_said_so() {
        let e = missing_gpu("--device cuda:2", 2, OpenFailure::InvalidDevice, None, true).unwrap();
        assert!(e.to_string().contains("cuda:2") && e.to_string().contains("did not say how many"), "{e}");
    }

    #[test]
    fn no_gpu_at_all_points_to_the_cpu() {
        let e = missing_gpu("--device cuda:0", 0, OpenFailure::NoDevice, None, true).unwrap();
        assert!(e.to_string().ends_with("this machine has no CUDA GPU"), "{e}");
        assert!(e.hint().unwrap().starts_with("use --device cpu"));
        // an environment variable, not --device, can name the GPU
        let e = missing_gpu("LLMZIP_INT8_CUDA=3", 3, OpenFailure::NoDevice, Some(5), true).unwrap();
        assert!(e.to_string().starts_with("LLMZIP_INT8_CUDA=3: "), "{e}");
    }

    #[test]
    fn other_driver_failures_keep_their_own_message() {
        assert!(missing_gpu("--device cuda:0", 0, OpenFailure::Other, Some(1), true).is_none());
        assert!(missing_gpu("--device cuda:1", 1, OpenFailure::Other, None, true).is_none());
        // whatever the driver said, an ordinal past the count is not there
        let e = missing_gpu("--device cuda:2", 2, OpenFailure::Other, Some(2), false).unwrap();
        assert!(e.to_string().contains("cuda:0 to cuda:1"), "{e}");
    }

    #[test]
    fn float_models_are_not_promised_any_device() {
        let e = missing_gpu("--device cuda:7", 7, OpenFailure::InvalidDevice, Some(2), false).unwrap();
        assert!(!e.hint().unwrap().contains("--device cpu"), "{}", e.hint().unwrap());
        let built =
            Error::Device { asked: "--device cuda".into(), problem: Unusable::NotBuilt { integer_only: false } };
        assert_eq!(built.to_string(), "--device cuda: this build has no CUDA support");
        assert!(built.hint().unwrap().contains("--device cpu"));
    }

    #[test]
    fn a_missing_driver_is_not_a_missing_gpu() {
        let e = Error::Device { asked: "--device cuda:0".into(), problem: Unusable::NoDriver };
        assert_eq!(e.to_string(), "--device cuda:0: the CUDA driver library (libcuda.so.1) could not be loaded");
        assert!(e.hint().unwrap().contains("LD_LIBRARY_PATH") && e.hint().unwrap().contains("--device cpu"));
    }

    #[test]
    fn devices_print_as_they_are_written() {
        assert_eq!(DeviceSpec::Cuda(7).to_string(), "cuda:7");
        assert_eq!(DeviceSpec::Cpu.to_string(), "cpu");
    }
}
