// Request bodies and chat logs with the real binaries. A route or a key with --log-bodies gets
// records that carry what the client sent and what it got (an upstream's answer, a stream as
// its bytes, fwd's own error), cut to --log-body-max-bytes; other requests' records carry none.
// `fwdctl logs convert` turns them into the chat log of openai-forward. With --jsonl-dir a data
// plane writes every request to client_interaction.jsonl and server_interaction.jsonl, one valid
// JSON object per line whatever the bodies hold; a JSONL file that cannot be written (a full
// disk) drops its lines and counts them while requests go on unaffected.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "tests/integration/cluster/fwd_cluster.h"

namespace fwd::harness {
namespace bodies_test {

using Json = nlohmann::json;
using namespace std::chrono_literals;

constexpr char kChat[] = R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})";
constexpr char kStream[] =
    R"({"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"go"}]})";

std::vector<Json> jsonlFile(const std::string& path) {
  std::ifstream in(path);
  std::vector<Json> out;
  for (std::string line; std::getline(in, line);) {
    Json j = Json::parse(line, nullptr, false);
    EXPECT_TRUE(j.is_object()) << "not one JSON object: " << line.substr(0, 200);
    out.push_back(std::move(j));
  }
  return out;
}

class BodiesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.startControlPlane());
    ASSERT_TRUE(cluster_.startUpstream("up1"));
  }

  void addUpstream() {
    ASSERT_TRUE(cluster_.fwdctlInSync({"upstream", "add", "local", "--base-url",
                                       cluster_.upstream("up1").baseUrl(), "--model", "gpt-*"}));
  }

  // The newest records with their bodies, once there are `n`.
  Json waitRecords(size_t n) {
    Json records;
    EXPECT_TRUE(waitFor(
        [&] {
          CommandResult r = cluster_.fwdctl({"-o", "json", "logs", "--bodies", "--limit", "100"});
          Json j = Json::parse(r.stdout_text, nullptr, false);
          if (r.exit_code != 0 || !j.is_object()) {
            return false;
          }
          records = j["records"];
          return records.size() >= n;
        },
        15s, std::to_string(n) + " records"));
    EXPECT_EQ(records.size(), n) << records.dump(2);
    return records;
  }

  static Json byRequestId(const Json& records, const Response& r) {
    for (const Json& record : records) {
      if (record["request_id"] == r.header("x-request-id")) {
        return record;
      }
    }
    ADD_FAILURE() << "no record for " << r.header("x-request-id");
    return Json::object();
  }

  double metric(const std::string& node, const std::string& series) {
    return metricValue(httpRequest(cluster_.dataPlane(node).admin, "GET", "/metrics").body, series);
  }

  FwdCluster cluster_;
};

TEST_F(BodiesTest, RoutesAndKeysWithLogBodiesGetRecordsWithWhatWasSentAndAnswered) {
  ASSERT_TRUE(cluster_.startDataPlane("dp1", {}, {"--log-body-max-bytes", "4096"}));
  addUpstream();
  ASSERT_TRUE(cluster_.fwdctlInSync(
      {"route", "add", "logged", "--prefix", "/logged", "--upstream", "local", "--log-bodies"}));
  std::string plain = cluster_.createKeyInSync("plain", {});
  std::string audited = cluster_.createKeyInSync("audited", {"--log-bodies"});
  CommandResult shown = cluster_.fwdctl({"-o", "json", "key", "get", "audited"});
  ASSERT_EQ(Json::parse(shown.stdout_text)["log_bodies"], true) << shown.stdout_text;

  Response unlogged = cluster_.call("dp1", "POST", "/v1/chat/completions", plain, kChat);
  Response by_route = cluster_.call("dp1", "POST", "/logged/v1/chat/completions", plain, kChat);
  Response streamed = cluster_.call("dp1", "POST", "/v1/chat/completions", audited, kStream);
  Response failed = cluster_.call("dp1", "POST", "/v1/chat/completions", audited, kChat,
                                  {{"x-fake-status", "500"}});
  const std::string big = R"({"model":"gpt-4o","messages":[{"role":"user","content":")" +
                          std::string(10000, 'x') + "\"}]}";
  Response long_one = cluster_.call("dp1", "POST", "/v1/chat/completions", audited, big);
  ASSERT_EQ(unlogged.status, 200);
  ASSERT_EQ(by_route.status, 200);
  ASSERT_EQ(streamed.status, 200);
  ASSERT_EQ(failed.status, 502);
  ASSERT_EQ(long_one.status, 200);

  Json records = waitRecords(5);
  Json none = byRequestId(records, unlogged);
  EXPECT_FALSE(none.contains("request_body")) << none.dump();
  Json route_record = byRequestId(records, by_route);
  EXPECT_EQ(route_record["request_body"], kChat);
  EXPECT_EQ(route_record["response_body"], by_route.body);
  Json stream_record = byRequestId(records, streamed);
  EXPECT_EQ(stream_record["request_body"], kStream);
  EXPECT_EQ(stream_record["response_body"], streamed.body);  // the SSE bytes the client got
  EXPECT_NE(streamed.body.find("data: [DONE]"), std::string::npos);
  Json error_record = byRequestId(records, failed);
  EXPECT_EQ(error_record["response_body"], failed.body);  // fwd's own error answer
  EXPECT_NE(failed.body.find("upstream_error"), std::string::npos);
  Json long_record = byRequestId(records, long_one);
  EXPECT_EQ(long_record["request_body"].get<std::string>(), big.substr(0, 4096));
  EXPECT_EQ(long_record["bytes_in"], big.size());

  // Without --bodies, no record has them.
  Json listed = cluster_.fwdctlJson({"logs", "--limit", "10"});
  for (const Json& r : listed["records"]) {
    EXPECT_FALSE(r.contains("request_body"));
  }

  // The chat log: the three whole chat requests with answers (the cut one is left out).
  CommandResult converted = cluster_.fwdctl({"logs", "convert"});
  ASSERT_EQ(converted.exit_code, 0) << converted.stderr_text;
  Json log = Json::parse(converted.stdout_text);
  ASSERT_EQ(log.size(), 3u) << converted.stdout_text;
  EXPECT_EQ(log[0]["messages"][0]["content"], "hi");
  EXPECT_EQ(log[0]["model"], "gpt-4o");
  EXPECT_EQ(log[0]["ip"], "127.0.0.1");
  EXPECT_EQ(log[0]["is_tool_calls"], false);
  EXPECT_TRUE(log[0]["assistant"].get<std::string>().starts_with("Hello")) << log[0].dump();
  EXPECT_EQ(log[1]["messages"][0]["content"], "go");
  EXPECT_TRUE(log[1]["assistant"].get<std::string>().starts_with("Hello")) << log[1].dump();
  EXPECT_NE(converted.stderr_text.find("2 records left out"), std::string::npos)
      << converted.stderr_text;

  // Turning it off: the next request's record has no bodies.
  ASSERT_TRUE(cluster_.fwdctlInSync({"key", "update", "audited", "--log-bodies=false"}));
  Response after = cluster_.call("dp1", "POST", "/v1/chat/completions", audited, kChat);
  Json later = waitRecords(6);
  EXPECT_FALSE(byRequestId(later, after).contains("request_body"));
}

TEST_F(BodiesTest, JsonlFilesHoldOneValidObjectPerLineWhateverTheBodiesHold) {
  std::string dir = (cluster_.dir().path() / "chatlogs").string();
  ASSERT_TRUE(cluster_.startDataPlane("dp1", {}, {"--records", "off", "--jsonl-dir", dir}));
  ASSERT_TRUE(cluster_.fwdctlInSync({"upstream", "add", "local", "--base-url",
                                     cluster_.upstream("up1").baseUrl(), "--model", "gpt-*",
                                     "--model", "/v1/audio/*"}));
  std::string key = cluster_.createKeyInSync("team-a", {});
  // An upload whose bytes hold line breaks, NUL, an escape sequence, a byte that is not UTF-8
  // and a 1 MB run.
  const std::string boundary = "----fwdjsonl";
  const std::string file = std::string("a\nb ", 4) + std::string(1, '\0') + " \x1b[31m \xff " +
                           std::string(1 << 20, 'y');
  const std::string upload = "--" + boundary +
                             "\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n"
                             "whisper-1\r\n--" +
                             boundary +
                             "\r\nContent-Disposition: form-data; name=\"file\"; "
                             "filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\n" +
                             file + "\r\n--" + boundary + "--\r\n";
  std::vector<Response> answers = {
      cluster_.call("dp1", "POST", "/v1/chat/completions", key, kChat),
      cluster_.call("dp1", "POST", "/v1/chat/completions", key, kStream),
      cluster_.call("dp1", "POST", "/v1/audio/transcriptions", key, upload,
                    {{"Content-Type", "multipart/form-data; boundary=" + boundary}}),
      cluster_.call("dp1", "POST", "/v1/chat/completions", "fwd-wrong", kChat),
  };
  EXPECT_EQ(answers[0].status, 200);
  EXPECT_EQ(answers[1].status, 200);
  EXPECT_EQ(answers[2].status, 200) << answers[2].body.substr(0, 500);
  EXPECT_EQ(answers[3].status, 401);
  EXPECT_FALSE(answers[0].header("x-request-id").empty());  // ids without central records too
  ASSERT_TRUE(waitFor([&] { return metric("dp1", "fwd_jsonl_lines_total{file=\"client\"}") >= 4; },
                      10s, "4 client lines"));
  // Lines come in the order each worker finished its requests: found by request id.
  std::map<std::string, Json> client;
  for (Json& line : jsonlFile(dir + "/client_interaction.jsonl")) {
    std::string id = line["request_id"];
    client[id] = std::move(line);
  }
  std::map<std::string, Json> server;
  for (Json& line : jsonlFile(dir + "/server_interaction.jsonl")) {
    std::string id = line["request_id"];
    server[id] = std::move(line);
  }
  ASSERT_EQ(client.size(), 4u);
  ASSERT_EQ(server.size(), 3u);  // the 401 reached no upstream
  auto line = [](std::map<std::string, Json>& lines, const Response& r) -> Json& {
    return lines[r.header("x-request-id")];
  };
  Json& chat = line(client, answers[0]);
  EXPECT_EQ(chat["request"], kChat);
  EXPECT_EQ(chat["response"], answers[0].body);
  EXPECT_EQ(chat["key"], "team-a");
  EXPECT_EQ(chat["status"], 200);
  EXPECT_EQ(line(server, answers[0])["upstream"], "local");
  EXPECT_EQ(line(server, answers[0])["status"], 200);
  EXPECT_EQ(line(server, answers[0])["response"], answers[0].body);
  EXPECT_EQ(line(client, answers[1])["response"], answers[1].body);
  EXPECT_EQ(line(client, answers[1])["stream"], true);
  // The 1 MB upload: cut to the default 64 KiB, and said so; its bytes read back as they were
  // but the one that is not UTF-8, now U+FFFD (3 bytes for 1).
  Json& upload_line = line(client, answers[2]);
  ASSERT_TRUE(upload_line.contains("request"))
      << upload_line.dump().substr(0, 2000) << " " << answers[2].header("x-request-id");
  EXPECT_EQ(upload_line["request_truncated"], true);
  std::string kept = upload_line["request"];
  EXPECT_EQ(kept.size(), 65536u + 2);
  EXPECT_NE(
      kept.find(std::string("a\nb ", 4) + std::string(1, '\0') + " \x1b[31m \xef\xbf\xbd yyy"),
      std::string::npos);
  EXPECT_EQ(upload_line["response"], answers[2].body);
  Json& refused = line(client, answers[3]);
  EXPECT_EQ(refused["status"], 401);
  EXPECT_FALSE(refused.contains("request"));  // refused before its body was read
}

TEST_F(BodiesTest, AJsonlFileThatCannotBeWrittenDropsAndCountsWhileRequestsGoOn) {
  std::string dir = (cluster_.dir().path() / "full").string();
  std::filesystem::create_directories(dir);
  // A full disk: every write to the client log fails with ENOSPC.
  std::filesystem::create_symlink("/dev/full", dir + "/client_interaction.jsonl");
  ASSERT_TRUE(cluster_.startDataPlane("dp1", {}, {"--jsonl-dir", dir}));
  addUpstream();
  std::string key = cluster_.createKeyInSync("team-a", {});
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(cluster_.call("dp1", "POST", "/v1/chat/completions", key, kChat).status, 200);
  }
  ASSERT_TRUE(
      waitFor([&] { return metric("dp1", "fwd_jsonl_dropped_total{file=\"client\"}") == 5; }, 10s,
              "5 client lines dropped"));
  EXPECT_EQ(metric("dp1", "fwd_jsonl_lines_total{file=\"client\"}"), 0);
  ASSERT_TRUE(waitFor([&] { return metric("dp1", "fwd_jsonl_lines_total{file=\"server\"}") == 5; },
                      10s, "the server log written"));
  EXPECT_EQ(jsonlFile(dir + "/server_interaction.jsonl").size(), 5u);
  // Central records are unaffected.
  ASSERT_TRUE(waitFor(
      [&] {
        Json j = cluster_.fwdctlJson({"logs", "--limit", "10"});
        return j["records"].size() == 5;
      },
      15s, "5 records"));
  EXPECT_NE(cluster_.dataPlane("dp1").process->stderrText().find("cannot write"),
            std::string::npos);
}

TEST(BodiesFlagsTest, BadBodyAndJsonlFlagsExitTwoNamingTheFlag) {
  for (const auto& [args, named] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--log-body-max-bytes", "2000000"}, "--log-body-max-bytes"},
           {{"--jsonl-max-bytes", "10"}, "--jsonl-max-bytes"},
           {{"--jsonl-dir", "/proc/fwd-no-such-dir"}, "--jsonl-dir /proc/fwd-no-such-dir"}}) {
    CommandResult r = runCommand(FWD_DATAPLANE_BIN, args, {}, 10s);
    EXPECT_EQ(r.exit_code, 2) << args[0] << ": " << r.stderr_text;
    EXPECT_NE(r.stderr_text.find(named), std::string::npos) << r.stderr_text;
  }
}

}  // namespace bodies_test
}  // namespace fwd::harness
