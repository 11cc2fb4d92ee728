use super::*;
use crate::model::mock;

/// Runs `engines` engine threads of `batcher` while `clients` clients each run `f(k,
/// client)` on a thread of their own (every client open before any calls); what each
/// returned, in order.
fn serve<R: Send>(batcher: &Batcher, engines: usize, clients: usize, f: impl Fn(usize, &Client) -> R + Sync) -> Vec<R> {
    let clients: Vec<Client> = (0..clients).map(|_| batcher.client()).collect();
    std::thread::scope(|s| {
        for _ in 0..engines {
            s.spawn(|| batcher.run());
        }
        let _stop = Stop(batcher);
        let f = &f;
        let hs: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(k, c)| {
                s.spawn(move || {
                    let r = f(k, c);
                    c.done();
                    r
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// The calls of several threads, merged, get the rows their own calls get, and gathering
/// waits for every open client: with all of them calling, one engine call serves them.
#[test]
fn merged_calls_route_each_its_own_rows() {
    let m = mock::model();
    let lm = m.lm.as_ref();
    let call = |k: usize| {
        let seqs: Vec<Vec<u32>> =
            (0..1 + k % 3).map(|s| (0..6 + s + k).map(|i| 5 + ((i * 31 + k) % 11) as u32).collect()).collect();
        let sel: Vec<(usize, usize)> = (0..seqs.len()).flat_map(|s| [(s, 1), (s, 3 + k % 2)]).collect();
        (seqs, sel)
    };
    let mut batcher = Batcher::new(lm);
    batcher.linger = Duration::from_secs(30);
    let got = serve(&batcher, 1, 4, |k, c| {
        let (seqs, sel) = call(k);
        c.log_probs(&seqs, &sel).unwrap()
    });
    for (k, lp) in got.iter().enumerate() {
        let (seqs, sel) = call(k);
        let want = lm.log_probs(&seqs, &sel).unwrap();
        assert_eq!(
            lp.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            want.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
    }
    assert_eq!(batcher.counts(), (1, 4));
}

/// Merged calls of rows that depend on each selection's token (the encoder's path rows)
/// carry each client's tokens: each gets the rows of its own call.
#[test]
fn merged_calls_carry_each_clients_tokens() {
    let m = mock::ranked_model(false);
    let v = m.lm.vocab_size() as u32;
    let rank: Vec<u32> = (0..v).rev().collect();
    let lm = m.lm.ranked(&rank, crate::model::RowForm::Path, false).unwrap();
    let lm = lm.as_ref();
    let call = |k: usize| {
        let seqs: Vec<Vec<u32>> =
            (0..1 + k % 3).map(|s| (0..6 + s).map(|i| 5 + ((i * 31 + k) % 11) as u32).collect()).collect();
        let sel: Vec<(usize, usize)> = (0..seqs.len()).map(|s| (s, 2)).collect();
        let known: Vec<u32> = (0..sel.len()).map(|j| (7 + 13 * k as u32 + j as u32) % v).collect();
        (seqs, sel, known)
    };
    let mut batcher = Batcher::new(lm);
    batcher.linger = Duration::from_secs(30);
    let got = serve(&batcher, 1, 4, |k, c| {
        let (seqs, sel, known) = call(k);
        c.log_probs_known(&seqs, &sel, &known).unwrap()
    });
    for (k, rows) in got.iter().enumerate() {
        let (seqs, sel, known) = call(k);
        assert_eq!(rows, &lm.log_probs_known(&seqs, &sel, &known).unwrap(), "client {k}");
        assert_eq!(rows.len(), sel.len() * crate::model::RowForm::Path.len(v as usize));
    }
    assert_eq!(batcher.counts(), (1, 4));
    assert!(lm.log_probs(&call(0).0, &call(0).1).is_err(), "path rows need the tokens");
}

/// With several engine threads, clients calling again and again each get the rows of
/// their own calls, and every call is served once.
#[test]
fn several_engine_threads_route_each_its_own_rows() {
    let m = mock::model();
    let lm = m.lm.as_ref();
    let call = |k: usize, j: usize| {
        let seqs: Vec<Vec<u32>> = (0..1 + (k + j) % 3)
            .map(|s| (0..4 + s + j % 5).map(|i| 5 + ((i * 31 + k * 7 + j) % 11) as u32).collect())
            .collect();
        let sel: Vec<(usize, usize)> = (0..seqs.len()).map(|s| (s, 1 + (k + j + s) % 3)).collect();
        (seqs, sel)
    };
    let batcher = Batcher::new(lm);
    serve(&batcher, 3, 6, |k, c| {
        for j in 0..20 {
            let (seqs, sel) = call(k, j);
            let got = c.log_probs(&seqs, &sel).unwrap();
            assert_eq!(got, lm.log_probs(&seqs, &sel).unwrap(), "client {k} call {j}");
        }
    });
    let (calls, served) = batcher.counts();
    assert_eq!(served, 6 * 20);
    assert!(calls <= served);
}

/// A client tells what its model is: causal or not (plans are chosen by it).
#[test]
fn a_client_is_causal_when_its_model_is() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny-roberta-prelayernorm-causal/");
    let read = |f: &str| std::fs::read(format!("{dir}{f}")).unwrap();
    let causal = crate::model::candle::CandleLm::load(
        "t",
        &read("config.json"),
        &[&read("model.safetensors")],
        crate::model::DeviceSpec::Cpu,
    )
    .unwrap();
    let masked = mock::model();
    for (lm, want) in [(&causal as &dyn MaskedLm, true), (masked.lm.as_ref(), false)] {
        assert_eq!(lm.causal(), want);
        assert_eq!(Batcher::new(lm).client().causal(), want);
    }
}

/// Fails any call holding token 99; otherwise the mock.
struct Picky(Box<dyn MaskedLm>);

impl MaskedLm for Picky {
    fn vocab_size(&self) -> usize {
        self.0.vocab_size()
    }
    fn max_sequence(&self) -> usize {
        self.0.max_sequence()
    }
    fn numerics(&self) -> &str {
        self.0.numerics()
    }
    fn architecture(&self) -> Architecture {
        self.0.architecture()
    }
    fn log_probs(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)]) -> Result<Vec<f32>> {
        if seqs.iter().flatten().any(|&t| t == 99) {
            return Err(Error::Invalid("token 99".into()));
        }
        self.0.log_probs(seqs, sel)
    }
}

/// A batch whose merged call fails is answered call by call: each gets its own result.
#[test]
fn a_failing_merged_call_is_made_call_by_call() {
    let lm = Picky(mock::model().lm);
    let batcher = Batcher::new(&lm);
    let (good_tx, good_rx) = mpsc::channel();
    let (bad_tx, bad_rx) = mpsc::channel();
    let good = Request {
        seqs: vec![vec![5, 6, 7, 8]],
        sel: vec![(0, 2)],
        known: None,
        reply: good_tx,
        queued: std::time::Instant::now(),
    };
    let bad = Request {
        seqs: vec![vec![5, 99]],
        sel: vec![(0, 1)],
        known: None,
        reply: bad_tx,
        queued: std::time::Instant::now(),
    };
    let want = lm.log_probs(&good.seqs, &good.sel).unwrap();
    batcher.answer(vec![good, bad]);
    assert_eq!(good_rx.recv().unwrap().unwrap(), want);
    assert!(bad_rx.recv().unwrap().is_err());
}
