import Foundation
import Testing

/// pipelines/ultrachat-sft.yaml (the one `make run` runs) end to end: the
/// chat dataset of pipelines/hub-datasets/ultrachat-mini served by the Hub
/// double, loaded with load_from_hub, its last assistant turns written again
/// by llm-test-server, the SFT set written as Parquet and read back by pyarrow.
@Suite("UltraChat SFT pipeline")
struct UltrachatPipelineTests {
    @Test func aHubChatDatasetBecomesSFTParquetWithTheTeachersLastTurns() throws {
        try Fixtures.requireBuiltPipeline()
        let python = Fixtures.packageRoot.appendingPathComponent(".build/test-venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python) else {
            #expect(ProcessInfo.processInfo.environment["PIPELINE_REQUIRE_PYARROW"] == nil, "the test venv is missing: run `make venv`")
            return
        }
        let server = try LLMServiceTests.Server(["--latency-ms", "2"])
        let root = Fixtures.packageRoot.path
        let directory = try Fixtures.emptyDirectory("ultrachat")
        let run = directory.appendingPathComponent("run").path
        var environment = ProcessInfo.processInfo.environment
        environment["LLM_BASE_URL"] = server.url + "/v1"
        environment["PIPELINE_CACHE_DIR"] = directory.appendingPathComponent("cache").path
        environment["HF_TOKEN"] = nil
        let script = """
            python3 \(root)/Tests/hub/seed_from_dir.py "$HF_ENDPOINT" HuggingFaceH4/ultrachat_200k \(root)/pipelines/hub-datasets/ultrachat-mini \
            && \(Fixtures.pipelineBinary) run \(root)/pipelines/ultrachat-sft.yaml --run-dir \(run) --no-llm-cache
            """
        let result = try Spawned("\(root)/Tests/tools/with-hub-server.sh", ["--lax-lfs", "--", "sh", "-c", script],
                                 environment: environment).wait()
        try #require(result.status == 0, "\(result.output)")

        // Every row: the dataset's conversation with its last assistant turn
        // replaced by the teacher's answer (the one llm-io.jsonl logged for it).
        let check = """
            import json, sys
            import pyarrow.parquet as pq
            out = pq.read_table(sys.argv[1]).to_pylist()
            src = pq.read_table(sys.argv[2]).to_pylist()
            answers = [json.loads(l)["response"] for l in open(sys.argv[3])]
            assert len(out) == len(src) == 9, (len(out), len(src))
            for got, want in zip(out, src):
                assert got["prompt_id"] == want["prompt_id"]
                assert got["messages"][:-1] == want["messages"][:-1], got
                last = got["messages"][-1]
                assert last["role"] == "assistant" and last["content"] in answers and last["content"] != want["messages"][-1]["content"], last
                assert list(got["messages"][0].keys()) == ["content", "role"]
            print("ok", len(out))
            """
        let checked = try Spawned(python, ["-c", check, run + "/ultrachat-sft.parquet",
                                           root + "/pipelines/hub-datasets/ultrachat-mini/data/train_sft-00000-of-00001.parquet",
                                           run + "/llm-io.jsonl"]).wait()
        #expect(checked.status == 0 && checked.output.contains("ok 9"), "\(checked.output)")
    }
}
