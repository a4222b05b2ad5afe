// No secret in any record or log line: a key's secret, a wrong secret a client presented, a
// secret in a query string and an upstream's stored credential are used in every way a request
// can go (answered, streamed, refused, failed upstream, spilled while the control plane is
// down), then looked for in the control plane's records files, the data plane's spill file,
// `fwdctl logs -o json`, both processes' output at debug level, and the error bodies clients
// got, with the key's records carrying bodies (--log-bodies) and the data plane writing its JSONL
// files too. None may appear, in whole or in part.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/integration/cluster/fwd_cluster.h"

namespace fwd::harness {
namespace records_secrets_test {

using Json = nlohmann::json;
using namespace std::chrono_literals;

constexpr char kChat[] = R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})";
constexpr char kStream[] = R"({"model":"gpt-4o","stream":true,"messages":[]})";
constexpr char kUpstreamKey[] = "sk-upstream-credential-7f3a9c2e51d4";
constexpr char kWrongKey[] = "fwd-not-a-key-but-secret-all-the-same-0b8e";

std::string readAll(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The secret, or any 12-byte piece of it, in `text`: "" when none is.
std::string leak(const std::string& text, const std::string& secret) {
  for (size_t at = 0; at + 12 <= secret.size(); ++at) {
    if (text.find(secret.substr(at, 12)) != std::string::npos) {
      return secret.substr(at, 12);
    }
  }
  return "";
}

TEST(RecordsSecretsTest, NoSecretReachesARecordALogLineOrAnErrorBody) {
  FwdCluster cluster;
  ASSERT_TRUE(cluster.startControlPlane());
  ASSERT_TRUE(cluster.startUpstream("up1"));
  const std::string jsonl_dir = (cluster.dir().path() / "chatlogs").string();
  ASSERT_TRUE(
      cluster.startDataPlane("dp1", {}, {"--log-level", "debug", "--jsonl-dir", jsonl_dir}));
  ASSERT_TRUE(cluster.fwdctlInSync({"upstream", "add", "local", "--base-url",
                                    cluster.upstream("up1").baseUrl(), "--model", "gpt-*",
                                    "--api-key", kUpstreamKey}));
  std::string key = cluster.createKeyInSync("team-a", {"--log-bodies"});
  ASSERT_FALSE(key.empty());

  std::vector<Response> answers;
  auto call = [&](const std::string& target, const std::string& secret, const std::string& body,
                  Headers headers = {}) {
    answers.push_back(cluster.call("dp1", "POST", target, secret, body, headers));
  };
  call("/v1/chat/completions", key, kChat);
  call("/v1/chat/completions", key, kStream);
  call("/v1/chat/completions?api-key=" + key, key, kChat);               // a key in the query
  call("/v1/chat/completions", kWrongKey, kChat);                        // 401
  call("/v1/chat/completions", key, kChat, {{"x-fake-status", "500"}});  // the upstream fails
  call("/v1/chat/completions", key, "{not json");                        // 400
  ASSERT_EQ(answers[0].status, 200);
  ASSERT_EQ(answers[3].status, 401);
  ASSERT_EQ(answers[4].status, 502);
  std::string first_control_plane =
      cluster.controlPlaneProcess()->stdoutText() + cluster.controlPlaneProcess()->stderrText();
  // Records spilled while the control plane is away, then sent.
  cluster.killControlPlane();
  call("/v1/chat/completions", key, kChat);
  call("/v1/chat/completions", kWrongKey, kChat);
  ASSERT_TRUE(waitFor(
      [&] {
        std::string m = httpRequest(cluster.dataPlane("dp1").admin, "GET", "/metrics").body;
        return metricValue(m, "fwd_records_spilled_total") >= 2;
      },
      15s, "the last 2 records spilled"));
  std::string spill = readAll(cluster.dataPlane("dp1").state_dir + "/records.spill");
  ASSERT_FALSE(spill.empty());
  ASSERT_TRUE(cluster.restartControlPlaneOnSamePort());
  Json logs;
  ASSERT_TRUE(waitFor(
      [&] {
        CommandResult r = cluster.fwdctl({"-o", "json", "logs", "--limit", "100"});
        logs = Json::parse(r.stdout_text, nullptr, false);
        return r.exit_code == 0 && logs.is_object() && logs["records"].size() == answers.size();
      },
      20s, "every record stored"));

  std::map<std::string, std::string> places;
  places["fwdctl logs -o json"] = logs.dump();
  CommandResult with_bodies = cluster.fwdctl({"-o", "json", "logs", "--bodies", "--limit", "100"});
  ASSERT_EQ(with_bodies.exit_code, 0) << with_bodies.stderr_text;
  ASSERT_NE(with_bodies.stdout_text.find("request_body"), std::string::npos);
  places["fwdctl logs --bodies -o json"] = with_bodies.stdout_text;
  for (const char* name : {"client_interaction.jsonl", "server_interaction.jsonl"}) {
    places[name] = readAll(std::filesystem::path(jsonl_dir) / name);
    ASSERT_FALSE(places[name].empty()) << name;
  }
  places["records.spill"] = spill;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(cluster.dir().path() /
                                                                         "cp-data" / "records")) {
    if (entry.is_regular_file()) {
      places[entry.path().filename().string()] = readAll(entry.path());
    }
  }
  places["data plane output"] = cluster.dataPlane("dp1").process->stdoutText() +
                                cluster.dataPlane("dp1").process->stderrText();
  places["control plane output"] = first_control_plane +
                                   cluster.controlPlaneProcess()->stdoutText() +
                                   cluster.controlPlaneProcess()->stderrText();
  std::string bodies;
  for (const Response& r : answers) {
    bodies += r.body;
  }
  places["answers"] = bodies;
  ASSERT_GE(places.size(), 9u);
  // The search finds a piece of a secret where there is one (the test can fail).
  ASSERT_NE(leak("Bearer " + key.substr(3, 14), key), "");
  for (const auto& [where, text] : places) {
    for (const std::string& secret : {key, std::string(kWrongKey), std::string(kUpstreamKey)}) {
      EXPECT_EQ(leak(text, secret), "") << "a secret in " << where;
    }
  }
  // The records do name the key, by name.
  EXPECT_NE(places["fwdctl logs -o json"].find("team-a"), std::string::npos);
}

}  // namespace records_secrets_test
}  // namespace fwd::harness
