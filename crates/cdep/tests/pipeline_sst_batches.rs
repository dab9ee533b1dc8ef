//! SST batching for the LSTM penalty: padding at the end, the relevant span (paper: the
//! flagged word only; reference: also the next word), every example once per epoch; and
//! the decoy variant on the real treebank flags every training sentence.

use cdep::experiments::sst::{bucket_batches, encode, make_batch, vocabulary, Encoded, PAD, UNK};
use rand::SeedableRng;
use tch::Device;
use xai_core::data::sst::{self, Example, Variant};

fn ex(words: &str, label: i64) -> Example {
    Example { tokens: words.split(' ').map(str::to_string).collect(), label }
}

#[test]
fn spans_padding_and_flags() {
    let train = vec![ex("a video of it", 1), ex("fine", 0), ex("text text here", 0)];
    let vocab = vocabulary(&[&train]);
    assert_eq!((vocab["<unk>"], vocab["<pad>"]), (UNK, PAD));
    let data: Encoded = encode(&train, &vocab, &["text".to_string(), "video".to_string()]);
    assert_eq!(data.flag_pos, vec![Some(1), None, Some(0)], "first flagged word");
    let b = make_batch(&data, &[0, 1, 2], false, Device::Cpu);
    assert_eq!(b.tokens.size(), [3, 4]);
    assert_eq!(Vec::<i64>::try_from(b.tokens.get(1)).unwrap()[1..], [PAD, PAD, PAD], "pads at the end");
    assert_eq!(Vec::<f32>::try_from(b.rel_words.get(0)).unwrap(), [0.0, 1.0, 0.0, 0.0]);
    assert_eq!(Vec::<f32>::try_from(b.flagged).unwrap(), [1.0, 0.0, 1.0]);
    let r = make_batch(&data, &[0, 1, 2], true, Device::Cpu);
    assert_eq!(Vec::<f32>::try_from(r.rel_words.get(0)).unwrap(), [0.0, 1.0, 1.0, 0.0], "inclusive stop");
    assert_eq!(Vec::<f32>::try_from(r.rel_bias.get(0)).unwrap(), [0.0, 1.0, 0.0, 0.0], "bias span half-open");
    assert_eq!(r.rel_words.get(1).sum(tch::Kind::Float).double_value(&[]), 0.0, "unflagged: no span");
}

#[test]
fn bucketed_batches_cover_every_example_once() {
    let train: Vec<Example> = (0..300).map(|i| ex("w ".repeat(1 + i % 17).trim_end(), i as i64 % 2)).collect();
    let vocab = vocabulary(&[&train]);
    let data = encode(&train, &vocab, &[]);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let batches = bucket_batches(&data, 64, &mut rng);
    let mut all: Vec<i64> = batches.iter().flatten().copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..300).collect::<Vec<_>>());
    assert!(batches.iter().all(|b| b.len() <= 64));
}

#[test]
fn decoy_variant_flags_every_training_sentence() {
    let root = xai_core::data::data_root(None);
    let trees = sst::load(&root).expect("SST missing: run `just fetch-data sst`");
    let v = sst::make_variant(&trees, Variant::Decoy, 0);
    let vocab = vocabulary(&[&v.train, &v.dev, &v.test]);
    let flagged: Vec<String> = v.flagged.iter().map(|s| s.to_string()).collect();
    let train = encode(&v.train, &vocab, &flagged);
    assert_eq!(train.ids.len(), 6920);
    assert!(train.flag_pos.iter().all(Option::is_some));
    let dev = encode(&v.dev, &vocab, &flagged);
    assert_eq!(dev.ids.len(), 872);
}
