// The JSONL files: every line is one valid JSON object whatever a body holds (NUL, escape
// sequences, line breaks, bytes that are not UTF-8, a long string cut to its cap); a file is
// rotated by size and by day without losing a line; a write that fails (a full disk: /dev/full)
// drops and counts its lines and leaves no half line, and writing resumes once it can.
#include "dataplane/records/jsonl_writer.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/unit/controlplane/temp_dir.h"

namespace fwd::dataplane::records {
namespace jsonl_writer_test {

using nlohmann::json;

constexpr std::int64_t kDay = 86'400;
constexpr std::int64_t kDec6 = 1'796'515'200;  // 2026-12-06T00:00:00Z

class JsonlTest : public ::testing::Test {
 protected:
  std::vector<std::string> lines(const std::string& name) {
    std::ifstream in(dir_ + "/" + name);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) {
      out.push_back(line);
    }
    return out;
  }
  std::vector<std::string> files() {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  controlplane::testing::TempDir temp_;  // removed with the test
  const std::string dir_ = temp_.path();
};

TEST(JsonStringTest, EveryByteEndsUpAsValidJsonThatReadsBackAsTheText) {
  const std::string text = std::string("line\nbreak\r\ttab \"quoted\" back\\slash ", 36) +
                           std::string(1, '\0') + "\x1b[31mred\x1b[0m \x7f del é 中文 🎉";
  std::string out;
  appendJsonString(out, text);
  EXPECT_EQ(out.find('\n'), std::string::npos);
  EXPECT_EQ(out.find('\x1b'), std::string::npos);
  EXPECT_EQ(json::parse(out).get<std::string>(), text);
  EXPECT_NE(out.find("\\u0000"), std::string::npos);
  EXPECT_NE(out.find("\\u001b"), std::string::npos);

  // Bytes that are not UTF-8 (a lone continuation byte, a cut sequence, an overlong form)
  // become U+FFFD each.
  std::string bad;
  appendJsonString(bad, "a\x80z\xe4\xb8 \xc0\xaf!");
  EXPECT_EQ(json::parse(bad).get<std::string>(),
            "a\xef\xbf\xbdz\xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd!");
}

fwd::v1::Record record() {
  fwd::v1::Record r;
  r.set_id("0123456789abcdef0123456789abcdef");
  r.set_request_id("req_upstream");
  r.mutable_time()->set_seconds(kDec6 + 3600);
  r.mutable_time()->set_nanos(250'000'000);
  r.set_key_name("team-a");
  r.set_client_ip("10.0.0.9");
  r.set_method("POST");
  r.set_path("/v1/chat/completions");
  r.set_route("chat");
  r.set_model("gpt-4o");
  r.set_served_model("gpt-4o-2024-08-06");
  r.set_upstream("east");
  r.set_status(200);
  r.set_attempts(2);
  r.set_stream(true);
  r.set_latency_us(1'234'567);
  r.set_ttfb_us(2'005);
  r.set_prompt_tokens(11);
  r.set_completion_tokens(5);
  r.set_outcome(fwd::v1::OUTCOME_OK);
  return r;
}

TEST(JsonlLinesTest, ClientAndServerLinesSayWhatEachSideSentAndGot) {
  Bodies b(16);
  b.request.assign(R"({"model":"gpt-4o"})", b.max_bytes);  // 18 bytes: cut to 16
  b.upstream_request.assign(R"({"model":"x"})", b.max_bytes);
  b.request_edited = true;
  b.startAnswer(200);
  b.feedAnswer("data: a\n\n");
  b.appendForClient("data: err\n\n");  // fwd's error event after the upstream's bytes
  std::string client = JsonlWriter::clientLine(record(), &b, "node-1");
  ASSERT_TRUE(client.ends_with("}\n"));
  json c = json::parse(client);
  EXPECT_EQ(c["time"], "2026-12-06T01:00:00.250Z");
  EXPECT_EQ(c["id"], "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(c["node_id"], "node-1");
  EXPECT_EQ(c["key"], "team-a");
  EXPECT_EQ(c["client_ip"], "10.0.0.9");
  EXPECT_EQ(c["model"], "gpt-4o");
  EXPECT_EQ(c["status"], 200);
  EXPECT_EQ(c["outcome"], "ok");
  EXPECT_EQ(c["latency_ms"].get<double>(), 1234.567);
  EXPECT_EQ(c["request"], R"({"model":"gpt-4o)");
  EXPECT_EQ(c["request_truncated"], true);
  EXPECT_EQ(c["response"], "data: a\n\ndata: e");  // 16 bytes of what the client got
  EXPECT_EQ(c["response_truncated"], true);

  json s = json::parse(JsonlWriter::serverLine(record(), &b, "node-1"));
  EXPECT_EQ(s["upstream"], "east");
  EXPECT_EQ(s["model"], "gpt-4o-2024-08-06");
  EXPECT_EQ(s["attempts"], 2);
  EXPECT_EQ(s["status"], 200);
  EXPECT_EQ(s["ttfb_ms"].get<double>(), 2.005);
  EXPECT_EQ(s["request"], R"({"model":"x"})");  // the edited body the upstream got
  EXPECT_EQ(s["request_truncated"], false);
  EXPECT_EQ(s["response"], "data: a\n\n");  // the upstream's own bytes
  EXPECT_EQ(s["prompt_tokens"], 11);

  // No upstream tried: no server line; no bodies kept: no body fields.
  fwd::v1::Record refused = record();
  refused.clear_upstream();
  EXPECT_EQ(JsonlWriter::serverLine(refused, &b, "n"), "");
  json bare = json::parse(JsonlWriter::clientLine(refused, nullptr, "n"));
  EXPECT_FALSE(bare.contains("request"));
  EXPECT_FALSE(bare.contains("response"));
}

TEST(BodiesTest, FwdsOwnAnswerReplacesWhatTheUpstreamSentForTheClient) {
  Bodies b(1024);
  b.failedAnswer(503, "{\"error\":\"overloaded\"}");
  b.ownAnswer("{\"error\":{\"code\":\"upstream_error\"}}");
  EXPECT_EQ(b.answer.bytes, "{\"error\":\"overloaded\"}");
  EXPECT_EQ(b.upstream_status, 503);
  EXPECT_EQ(b.clientAnswer().bytes, "{\"error\":{\"code\":\"upstream_error\"}}");
  Bodies plain(4);
  plain.startAnswer(200);
  plain.feedAnswer("abcdef");
  EXPECT_EQ(&plain.clientAnswer(), &plain.answer);
  EXPECT_EQ(plain.answer.bytes, "abcd");
  EXPECT_EQ(plain.answer.total, 6u);
}

TEST_F(JsonlTest, FilesRotateBySizeAndByDayKeepingEveryLine) {
  JsonlFile file(dir_, "client_interaction", 100);
  const std::string line = std::string(40, 'x') + "\n";
  file.add(line);
  file.add(line);
  EXPECT_EQ(file.flush(kDec6 + 10), 0u);  // 82 bytes
  file.add(line);
  EXPECT_EQ(file.flush(kDec6 + 20), 0u);  // would pass 100: rotated first
  file.add(line);
  EXPECT_EQ(file.flush(kDec6 + 30), 0u);
  file.add(line);
  EXPECT_EQ(file.flush(kDec6 + kDay + 5), 0u);  // a new day
  EXPECT_EQ(files(), (std::vector<std::string>{"client_interaction-2026-12-06.1.jsonl",
                                               "client_interaction-2026-12-06.jsonl",
                                               "client_interaction.jsonl"}));
  EXPECT_EQ(lines("client_interaction-2026-12-06.jsonl").size(), 2u);
  EXPECT_EQ(lines("client_interaction-2026-12-06.1.jsonl").size(), 2u);
  EXPECT_EQ(lines("client_interaction.jsonl").size(), 1u);
}

TEST_F(JsonlTest, AFailedWriteDropsItsLinesLeavesNoHalfLineAndWritingResumes) {
  // The file is /dev/full: every write fails with ENOSPC, as on a full disk.
  std::filesystem::create_symlink("/dev/full", dir_ + "/server_interaction.jsonl");
  prometheus::Registry registry;
  JsonlWriter writer({.dir = dir_, .max_bytes = 1u << 20, .node_id = "n"}, registry);
  for (int i = 0; i < 3; ++i) {
    writer.add(record(), nullptr);
  }
  writer.flush();
  auto value = [&](const std::string& name, const std::string& file) {
    for (const auto& family : registry.Collect()) {
      for (const auto& m : family.metric) {
        if (family.name == name && m.label.size() == 1 && m.label[0].value == file) {
          return m.counter.value;
        }
      }
    }
    return -1.0;
  };
  EXPECT_EQ(value("fwd_jsonl_dropped_total", "server"), 3);
  EXPECT_EQ(value("fwd_jsonl_lines_total", "server"), 0);
  EXPECT_EQ(value("fwd_jsonl_lines_total", "client"), 3);  // the other file is unaffected
  EXPECT_EQ(value("fwd_jsonl_dropped_total", "client"), 0);
  for (const std::string& l : lines("client_interaction.jsonl")) {
    EXPECT_NO_THROW(json::parse(l));
  }

  std::filesystem::remove(dir_ + "/server_interaction.jsonl");
  writer.add(record(), nullptr);
  writer.flush();  // the file can be written again (a new one)
  EXPECT_EQ(value("fwd_jsonl_lines_total", "server"), 1);
  EXPECT_EQ(lines("server_interaction.jsonl").size(), 1u);
}

TEST_F(JsonlTest, AWriteThatFailsPartWayIsCutBackToTheLastWholeLine) {
  // A file size limit lets the write of two lines in only part way (then EFBIG); the file goes
  // back to its one whole line. In a child process: the limit is the process's.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit limit {
      50, 50
    };
    ::setrlimit(RLIMIT_FSIZE, &limit);
    JsonlFile file(dir_, "partial", 1u << 20);
    file.add(std::string(39, 'a') + "\n");
    bool first = file.flush(kDec6) == 0;
    file.add(std::string(39, 'b') + "\n");
    file.add(std::string(39, 'c') + "\n");
    bool lost = file.flush(kDec6) == 2;
    ::_exit(first && lost && std::filesystem::file_size(file.path()) == 40 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(lines("partial.jsonl"), std::vector<std::string>{std::string(39, 'a')});
}

}  // namespace jsonl_writer_test
}  // namespace fwd::dataplane::records
