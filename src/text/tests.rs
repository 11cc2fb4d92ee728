use super::*;

fn tokenizer(json: &[u8]) -> LosslessTokenizer {
    LosslessTokenizer::from_bytes(json, "test").unwrap()
}

fn causal() -> LosslessTokenizer {
    tokenizer(include_bytes!("../../data/llmzip-causal-1/tokenizer.json"))
}

/// Texts where a cut in the wrong place would change the tokens: whitespace runs before and
/// after newlines, contractions, letters next to digits, added tokens next to cuts, CRLF,
/// invalid UTF-8, non-ASCII letters and spaces.
fn tricky() -> Vec<Vec<u8>> {
    let mut t: Vec<Vec<u8>> = [
        "a\nb",
        "a  \nb",
        "a \n b",
        "a\n\nb",
        "  \n\nx",
        "x\n  \ny",
        "it's a dog's 'st 'll\nwe'd\n'm",
        "abc123def 4x4 0xdeadbeef\n1a\na1",
        "<mask>\nx y<s>1 </s>a\n<pad>b",
        "a\r\nb\r\n\r\nc",
        "é b\nç 1é\n",
        "a\u{a0}b\u{2028}c\u{3000}d e",
        "\n\n\n",
        " ",
        "",
        "x",
        "a b",
        "ab\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    t.push(b"caf\xc3 x\xff\xfe1a b\n\x80y".to_vec());
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let alphabet = b"ab1 \n\t'.'s\r<mask>x";
    let noise: Vec<u8> = (0..20_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            alphabet[(x >> 40) as usize % alphabet.len()]
        })
        .collect();
    t.push(noise);
    for f in ["prose-de.txt", "source-python.py", "json-packages.jsonl", "csv-dpkg-events.csv"] {
        let p = format!("{}/data/bench-texts/{f}", env!("CARGO_MANIFEST_DIR"));
        t.push(std::fs::read(p).unwrap()[..60_000].to_vec());
    }
    t
}

/// The built-in models' tokenizers (all byte-level BPE, no normalizer) may be cut; the BERT
/// fixture's (a normalizer, another pre-tokenizer) may not.
#[test]
fn which_tokenizers_are_cut() {
    assert!(causal().in_pieces);
    assert!(tokenizer(include_bytes!("../../data/llmzip-small-1/tokenizer.json")).in_pieces);
    assert!(tokenizer(include_bytes!("../../tests/fixtures/tiny-roberta/tokenizer.json")).in_pieces);
    assert!(!tokenizer(include_bytes!("../../tests/fixtures/tiny-bert/tokenizer.json")).in_pieces);
}

/// Tokenized in pieces of any size, down to a cut at every place allowed, every text gives
/// the ids, residual and exceptions of the whole text at once.
#[test]
fn pieces_tokenize_as_the_whole_text() {
    for tok in [causal(), tokenizer(include_bytes!("../../tests/fixtures/tiny-roberta/tokenizer.json"))] {
        for text in tricky() {
            let whole = tok.encode_in(&text, usize::MAX).unwrap();
            for piece in [1, 2, 7, 100, 4096] {
                let got = tok.encode_in(&text, piece).unwrap();
                assert!(got == whole, "piece {piece}, text {:?}", String::from_utf8_lossy(&text[..text.len().min(80)]));
            }
            assert_eq!(tok.decode(&whole.ids, &whole.residual).unwrap(), text);
        }
    }
}

/// The cuts are where the module says, and a long text is cut into pieces near [`PIECE`].
#[test]
fn cuts_fall_where_allowed() {
    let t = b"ab\ncd  \nef 12x y.\n z";
    let cuts: Vec<usize> = (0..t.len()).filter(|&p| pieces::is_cut(t, p, &[])).collect();
    assert_eq!(cuts, vec![3, 13, 14, 16]);
    let prose = std::fs::read(format!("{}/data/bench-texts/prose-de.txt", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let end = pieces::piece_end(&prose, 0, 4096, &[]);
    assert!((3000..=4096).contains(&end), "{end}");
    assert_eq!(pieces::piece_end(&[b' '; 9000], 0, 4096, &[]), 9000, "no cut: the whole text");
    let added = [b"<mask>".to_vec()];
    let t = b"xy<mask>1ab";
    let cuts: Vec<usize> = (0..t.len()).filter(|&p| pieces::is_cut(t, p, &added)).collect();
    assert_eq!(cuts, vec![2, 8, 9], "none inside the added token");
}
