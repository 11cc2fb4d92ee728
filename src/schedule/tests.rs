use super::*;

#[test]
fn every_position_predicted_once_and_only_earlier_groups_visible() {
    let settled = |after, window| Some(Settle { after, window });
    for (w, c, r, shape, lanes, settle) in [
        (16, 0, 1, Shape::Uniform, 0, None),
        (16, 4, 4, Shape::Geometric, 0, None),
        (10, 3, 3, Shape::Uniform, 0, None),
        (7, 2, 7, Shape::Geometric, 0, None),
        (16, 4, 1, Shape::Uniform, 3, None),
        (10, 5, 3, Shape::Geometric, 2, None),
        (8, 8, 2, Shape::Uniform, 64, None),
        (8, 4, 2, Shape::Geometric, 3, settled(20, 3)),
        (10, 5, 3, Shape::Uniform, 2, settled(0, 10)),
        (16, 4, 4, Shape::Geometric, 64, settled(40, 1)),
        (7, 2, 7, Shape::Geometric, 1, settled(9, 7)),
    ] {
        let plan = RevealPlan { window: w, context: c, rounds: r, shape, lanes: Lanes::from_count(lanes), settle };
        plan.validate(64).unwrap();
        for n in [0usize, 1, 5, 16, 33, 100] {
            let walker = Walker::new(&plan, n, 3);
            let known: Vec<u32> = (0..n as u32).map(|i| i + 10).collect();
            let mut seen = vec![0; n];
            for ph in 0..walker.phases() {
                let steps = walker.phase(ph, &known, 1, 2, 3);
                for st in &steps {
                    for seq in &st.seqs {
                        for &tok in &seq[1..seq.len() - 1] {
                            if tok != 3 {
                                assert_eq!(seen[(tok - 10) as usize], 1, "{plan:?}: shown before predicted");
                            }
                        }
                    }
                }
                for st in &steps {
                    for (k, &(si, p)) in st.sel.iter().enumerate() {
                        let t = st.targets[k];
                        seen[t] += 1;
                        assert_eq!(st.seqs[si][p], 3, "predicted position must be masked");
                    }
                }
            }
            assert!(seen.iter().all(|&s| s == 1), "{plan:?} n={n}");
        }
    }
}

#[test]
fn groups_are_nonempty_and_geometric_grows() {
    let plan = RevealPlan {
        window: 128,
        context: 0,
        rounds: 4,
        shape: Shape::Geometric,
        lanes: Lanes::Lockstep,
        settle: None,
    };
    let g = plan.groups();
    let counts: Vec<usize> = (0..4).map(|r| g.iter().filter(|&&x| x as usize == r).count()).collect();
    assert!(counts.windows(2).all(|p| p[0] < p[1]), "{counts:?}");
    assert_eq!(counts.iter().sum::<usize>(), 128);
}

/// Once settled, every lane is coded left to right: each token's left neighbours in its lane
/// are known when it is coded (what the adaptive model needs), and the windows before are
/// coded in their rounds.
#[test]
fn settled_windows_code_left_to_right() {
    for (after, sub) in [(0, 4), (100, 4), (100, 1), (64, 16)] {
        let plan = RevealPlan {
            window: 16,
            context: 8,
            rounds: 2,
            shape: Shape::Geometric,
            lanes: Lanes::AtMost(2),
            settle: Some(Settle { after, window: sub }),
        };
        let n = 300;
        let walker = Walker::new(&plan, n, 4);
        let known = vec![0u32; n];
        let mut order = Vec::new();
        for ph in 0..walker.phases() {
            for st in walker.phase(ph, &known, 1, 2, 3) {
                order.extend(st.targets);
            }
        }
        assert_eq!(order.len(), n);
        // lanes of 10 windows (160 tokens); rows of 2 windows (32 tokens) each
        let settled_from = after.div_ceil(32) * 16;
        for lane in [0..160, 160..300] {
            let late: Vec<usize> =
                order.iter().copied().filter(|&t| lane.contains(&t) && t - lane.start >= settled_from).collect();
            assert!(late.windows(2).all(|p| p[0] + 1 == p[1]), "{plan:?}: {late:?}");
            assert_eq!(late.len(), lane.len().saturating_sub(settled_from));
            let early = order.iter().filter(|&&t| lane.contains(&t) && t - lane.start < settled_from);
            assert!(settled_from == 0 || !early.is_sorted(), "{plan:?}: rounds before settling");
        }
    }
}

/// A causal plan predicts every token once, each from `[CLS]` and exactly the tokens of its
/// lane from the segment start up to it (all predicted before), with `context` …
/// `context + window - 1` of them once the lane is under way; between hops a lane's
/// sequence is its previous one plus one token (what lets an engine reuse a causal model's
/// rows).
#[test]
fn causal_plans_show_each_token_its_left_context() {
    for (c, w, lanes, batch) in [(4, 8, 3, 2), (0, 1, 1, 5), (3, 5, 64, 64), (16, 16, 2, 1)] {
        let plan = RevealPlan {
            window: w,
            context: c,
            rounds: 1,
            shape: Shape::Causal,
            lanes: Lanes::AtMost(lanes),
            settle: None,
        };
        plan.validate(c + w).unwrap();
        assert!(plan.validate(c + w - 1).is_err(), "{plan:?} needs {} positions", c + w);
        for n in [0usize, 1, 7, 40, 333] {
            let walker = Walker::new(&plan, n, batch);
            let known: Vec<u32> = (0..n as u32).map(|i| i + 10).collect();
            let mut seen = vec![0; n];
            let mut last: std::collections::HashMap<usize, Vec<u32>> = Default::default();
            for ph in 0..walker.phases() {
                for st in walker.phase(ph, &known, 1, 2, 3) {
                    assert!(st.seqs.len() <= batch);
                    for (k, &(si, p)) in st.sel.iter().enumerate() {
                        let (t, seq) = (st.targets[k], &st.seqs[si]);
                        assert_eq!(p, seq.len() - 1, "the last row predicts");
                        assert_eq!(seq[0], 1);
                        let lo = t - (seq.len() - 1);
                        assert_eq!(&seq[1..], &known[lo..t], "{plan:?}: the tokens right before {t}");
                        assert!(seq[1..].iter().all(|&x| seen[(x - 10) as usize] == 1), "shown before predicted");
                        let lane = (0..walker.lane_count())
                            .find(|&l| walker.lanes[l].0 <= t && t < walker.lanes[l].1)
                            .unwrap();
                        let o = t - walker.lanes[lane].0;
                        let ctx = seq.len() - 1;
                        assert!(ctx == o || (c..c + w).contains(&ctx), "{plan:?}: offset {o} sees {ctx}");
                        if let Some(prev) = last.insert(lane, seq.clone()) {
                            let hop = lo > walker.lanes[lane].0 + causal_start(o - 1, c, w);
                            assert!(hop || (seq.len() == prev.len() + 1 && seq.starts_with(&prev)), "{plan:?}: {o}");
                        }
                        seen[t] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&s| s == 1), "{plan:?} n={n}");
        }
    }
    let bad =
        RevealPlan { window: 8, context: 4, rounds: 2, shape: Shape::Causal, lanes: Lanes::AtMost(2), settle: None };
    assert!(bad.validate(64).is_err());
    assert!(RevealPlan { rounds: 1, lanes: Lanes::Lockstep, ..bad }.validate(64).is_err());
}
