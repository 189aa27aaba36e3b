"""Work split over torchrun's processes (``vidaction.engine.sharding``): every item in exactly one
share whatever the input order, part files that survive a crash mid-line, and merges that keep
what was already written."""

import json

import pytest

from vidaction.engine import batch_detection, batch_inference
from vidaction.engine.sharding import (JsonLinesWriter, gather_at_end, part_files, part_path, process_share,
                                       read_json_lines, take_share)


def test_shares_are_disjoint_cover_everything_and_ignore_the_input_order(monkeypatch):
    items = [f"video_{i:02d}.mp4" for i in range(11)]
    shares = []
    for rank in range(3):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "3")
        assert process_share() == (rank, 3)
        shares.append(take_share(reversed(items)))
    assert sorted(sum(shares, [])) == items and [len(s) for s in shares] == [4, 4, 3]
    assert shares[1] == items[1::3]
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    assert take_share(items) == items and gather_at_end("summary") == ["summary"]


def test_a_partial_last_line_is_ignored_then_cut_before_appending(tmp_path):
    path = tmp_path / "out.jsonl"
    with JsonLinesWriter(path) as writer:
        writer.write({"video": "a"})
        writer.write({"video": "b"})
    path.write_text(path.read_text() + '{"video": "c", "topk": [{"lab')
    assert read_json_lines(path) == [{"video": "a"}, {"video": "b"}]
    with JsonLinesWriter(path) as writer:
        writer.write({"video": "c"})
    assert path.read_text().splitlines() == ['{"video": "a"}', '{"video": "b"}', '{"video": "c"}']
    assert read_json_lines(tmp_path / "missing.jsonl") == []


def test_merging_json_lines_keeps_the_output_and_orders_the_parts_by_video(tmp_path):
    out = tmp_path / "results.jsonl"
    out.write_text('{"video": "old"}\n')
    for rank, videos in enumerate((["c", "a"], ["b", "old"])):
        with JsonLinesWriter(part_path(out, rank)) as writer:
            for video in videos:
                writer.write({"video": video})
    assert part_files(out) == [tmp_path / "results.jsonl.rank0.part", tmp_path / "results.jsonl.rank1.part"]
    assert batch_inference.finished_videos(out) == {"old", "a", "b", "c"}
    batch_inference.merge_parts(out, ["c", "b", "a"])
    assert [r["video"] for r in read_json_lines(out)] == ["old", "a", "b", "c"] and not part_files(out)


def test_merging_detections_adds_the_parts_videos_to_the_results_file(tmp_path):
    out = tmp_path / "results.json"
    entry = {"label": "Jump", "score": 0.5, "segment": [1.0, 2.0]}
    out.write_text(json.dumps({"version": "VERSION 1.3", "results": {"v2": [entry]}, "external_data": {}}))
    with JsonLinesWriter(part_path(out, 1)) as writer:
        writer.write({"video_id": "v3", "video": "v3.mp4", "duration": 4.0, "results": []})
        writer.write({"video_id": "v1", "video": "v1.mp4", "duration": 4.0, "results": [entry]})
        writer.write({"video_id": "v0", "video": "v0.mp4", "error": "truncated"})
    assert batch_detection.finished_video_ids(out) == {"v0", "v1", "v2", "v3"}
    batch_detection.merge_parts(out)
    merged = json.loads(out.read_text())
    assert list(merged["results"]) == ["v2", "v1", "v3"] and merged["results"]["v3"] == []
    assert merged["external_data"] == {} and not part_files(out)
    out.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not an ActivityNet results file"):
        batch_detection.finished_video_ids(out)
