use mediaforce_core::decode::{DecodeOptions, VideoDecoder};
use mediaforce_core::synth::{SyntheticClip, SyntheticVideo};

#[test]
fn synth_probe_decode_roundtrip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.mkv");
    SyntheticClip::new(SyntheticVideo::new(160, 120, 24)).write(&path).unwrap();
    let info = mediaforce_core::probe(&path).unwrap();
    println!("{}", serde_json::to_string_pretty(&info).unwrap());
    let v = info.primary_video().unwrap().video.clone().unwrap();
    assert_eq!((v.width, v.height), (160, 120));
    let frames: Vec<_> = VideoDecoder::open(&path, DecodeOptions::default()).unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(frames.len(), 24);
}
