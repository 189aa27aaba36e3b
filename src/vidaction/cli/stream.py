"""``vidaction stream CHECKPOINT SOURCE [--topk 5] [--smooth N] [--out annotated.mp4] [--json]``: online
recognition of a video file, a network stream or a camera with an online-shift TSM checkpoint."""

from __future__ import annotations

import argparse
import json
import sys

from vidaction.cli.arguments import add_command, add_trust_argument


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers, "stream", run,
        help="online recognition of a video file, stream or camera (TSM online shift)",
        description="Recognise actions frame by frame as a video plays, with a checkpoint of a TSM trained with "
        "model.options.shift_mode=online (TSM's online model: each frame costs one 2D forward, the shifted channels "
        "come from the previous frame's cached buffers). Decoding runs in a thread; each processed frame prints "
        "its top-k with the frame's latency and the achieved frames/s. A live source (URL, camera) is paced by its "
        "own clock and frames the model is too slow for are dropped and counted, never queued; a file is "
        "processed as fast as possible without dropping unless --realtime. A live source that breaks off is "
        "reopened (--reconnect times) or the command ends with an error naming it. See docs/online.md.",
    )
    parser.add_argument("checkpoint", help="a checkpoint written by 'vidaction train' with shift_mode=online")
    parser.add_argument("source", help="a video file, a URL FFmpeg opens (rtsp://, http(s)://, an HLS .m3u8) or a "
                        "V4L2 camera (/dev/video0)")
    parser.add_argument("--topk", type=int, default=5, help="how many classes to print (default 5)")
    parser.add_argument("--smooth", type=int, default=0, metavar="N",
                        help="average the logits of the last N frames (1: each frame's own; default: the "
                        "checkpoint's clip length T, the average consensus it was trained with)")
    parser.add_argument("--out", help="write the processed frames, labelled, with a confidence bar, to this .mp4")
    parser.add_argument("--json", action="store_true", help="print one JSON object per frame and a summary object")
    parser.add_argument("--realtime", action="store_true",
                        help="play a file at its frame rate, dropping frames the model is too slow for, as a live "
                        "source would (default: every frame, as fast as possible)")
    parser.add_argument("--reconnect", type=int, default=3, metavar="N",
                        help="reopen a live source that fails up to N times in a row (default 3)")
    parser.add_argument("--retry-delay", type=float, default=1.0, metavar="S",
                        help="seconds between reconnection attempts (default 1)")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="S",
                        help="seconds to wait for a source to open or send data (default 10)")
    parser.add_argument("--device", default="cpu", help="device to run the network on (default cpu)")
    add_trust_argument(parser)


def run(args: argparse.Namespace) -> int:
    from vidaction.engine.tasks.recognition import load_trained_model
    from vidaction.inference import FrameSource, OnlineRecognizer, recognize_stream
    from vidaction.data.writer import VideoWriter
    from vidaction.inference.overlay import annotate

    model, cfg, class_names = load_trained_model(args.checkpoint)
    try:
        recognizer = OnlineRecognizer(model, smooth=args.smooth or cfg.data.num_frames, device=args.device)
    except ValueError as exc:
        print(f"vidaction: error: {args.checkpoint}: {exc}", file=sys.stderr)
        return 2
    recognizer.class_names = class_names or recognizer.class_names
    writer, processed, result = None, 0, None
    with FrameSource(args.source, args.realtime, args.reconnect, args.retry_delay, args.timeout) as source:
        try:
            for result in recognize_stream(recognizer, source, args.topk):
                processed += 1
                _print(result, args.json)
                if args.out:
                    writer = writer or VideoWriter(args.out, source.fps or 25.0, crf=None, reproducible=False)
                    label, score = result.topk[0]
                    writer.write(annotate(result.image, label, score,
                                          f"{result.latency_ms:.0f} ms  {result.fps:.1f} fps"))
        finally:
            if writer is not None:
                writer.close()
        summary = {"source": args.source, "processed": processed, "dropped": source.dropped,
                   "reconnects": source.reconnects, "fps": round(result.fps, 2) if result else 0.0,
                   "out": args.out}
    print(json.dumps({"summary": summary}) if args.json else
          f"{processed} frames processed, {summary['dropped']} dropped, {summary['reconnects']} reconnections, "
          f"{summary['fps']:.1f} frames/s" + (f"; annotated video: {args.out}" if args.out else ""))
    return 0


def _print(result, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"frame": result.index, "time": result.time, "latency_ms": round(result.latency_ms, 3),
                          "fps": round(result.fps, 2), "dropped": result.dropped,
                          "topk": [{"label": n, "score": p} for n, p in result.topk]}), flush=True)
    else:
        ranked = "  ".join(f"{name} {p:.2f}" for name, p in result.topk)
        print(f"frame {result.index:6d}  {result.latency_ms:7.1f} ms  {result.fps:6.1f} fps  "
              f"dropped {result.dropped}  {ranked}", flush=True)
