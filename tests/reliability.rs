//! Damaged input never comes back as wrong output; compression is deterministic.

mod common;

use assert_cmd::Command;
use llmzip::coding::Method;
use llmzip::container::Header;
use llmzip::{Compressor, Decompressor, Hooks, Model, Options};

fn decode_all(m: &Model, mut z: &[u8]) -> llmzip::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut members = 0;
    while let Some(h) = Header::read(&mut z)? {
        let d = Decompressor::new(m, h)?;
        d.decompress_member(&mut z, &mut out, &Hooks::default())?;
        members += 1;
    }
    if members == 0 {
        return Err(llmzip::Error::NotLlmz);
    }
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
    let hlen = u16::from_le_bytes([z[5], z[6]]) as usize + 7 + 4;
    // a block record claiming 4 GiB payload, with a valid-looking tag
    let mut bad = z[..hlen].to_vec();
    bad.push(1);
    bad.extend_from_slice(&u32::MAX.to_le_bytes());
    bad.extend_from_slice(&u32::MAX.to_le_bytes());
    bad.extend_from_slice(&u32::MAX.to_le_bytes());
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
    // root ignores directory permissions: only assert where they apply
    if std::fs::write(ro.join("probe"), "x").is_ok() {
        eprintln!("skipped: permissions are not enforced for this user");
        return;
    }
    Command::cargo_bin("llmzip")
        .unwrap()
        .current_dir(d.path())
        .args(["compress", "t.txt", "-o", "ro/t.txt.llmz", "--model", common::fixture("tiny-bert").to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicates::str::contains("cannot create a file in ro"));
    assert!(d.path().join("t.txt").exists());
}
