// Client keys changed while traffic flows: rotation (with and without a grace period) and model
// updates, through fwdctl, the control plane and a data plane.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/integration/cluster/fwd_cluster.h"
#include "tests/integration/harness/wait.h"

namespace fwd::harness {
namespace {

class KeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.startControlPlane());
    ASSERT_TRUE(cluster_.startUpstream("up1"));
    ASSERT_TRUE(cluster_.startDataPlane("dp1"));
    auto r = cluster_.fwdctl({"upstream", "add", "local", "--base-url",
                              cluster_.upstream("up1").baseUrl(), "--model", "gpt-*"});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    secret_ = cluster_.createKey("alice");
    ASSERT_FALSE(secret_.empty());
    ASSERT_TRUE(cluster_.waitInSync());
  }

  int chat(const std::string& key, const std::string& model = "gpt-4o") {
    return cluster_
        .call("dp1", "POST", "/v1/chat/completions", key,
              R"({"model":")" + model + R"(","messages":[]})")
        .status;
  }

  FwdCluster cluster_;
  std::string secret_;
};

TEST_F(KeysTest, ARotationWithoutGraceRefusesTheOldSecretAtOnce) {
  // `key rotate` prints a new secret; once the data plane has the new config, the old secret is
  // a 401 and the new one works.
  ASSERT_EQ(chat(secret_), 200);
  nlohmann::json rotated = cluster_.fwdctlJson({"key", "rotate", "alice"});
  std::string fresh = rotated.value("key", "");
  ASSERT_EQ(fresh.rfind("fwd-", 0), 0u) << rotated.dump();
  EXPECT_TRUE(rotated["previous_secret_expires"].is_null()) << rotated.dump();
  ASSERT_TRUE(cluster_.waitInSync());
  EXPECT_EQ(chat(secret_), 401);
  EXPECT_EQ(chat(fresh), 200);
}

TEST_F(KeysTest, ARotationWithGraceKeepsTheOldSecretUntilTheGraceEnds) {
  // With --grace 2s both secrets work at first; the old one is refused once 2 s have passed,
  // even on a keep-alive connection that used it before and without a new config.
  HttpConnection old_conn(cluster_.dataPlane("dp1").http);
  Headers old_headers = {{"Authorization", "Bearer " + secret_},
                         {"Content-Type", "application/json"}};
  const std::string body = R"({"model":"gpt-4o","messages":[]})";
  ASSERT_EQ(old_conn.request("POST", "/v1/chat/completions", old_headers, body).status, 200);

  auto rotated_at = std::chrono::steady_clock::now();
  nlohmann::json rotated = cluster_.fwdctlJson({"key", "rotate", "alice", "--grace", "2s"});
  std::string fresh = rotated.value("key", "");
  ASSERT_FALSE(fresh.empty()) << rotated.dump();
  EXPECT_TRUE(rotated["previous_secret_expires"].is_string()) << rotated.dump();
  ASSERT_TRUE(cluster_.waitInSync());
  std::uint64_t version = cluster_.configVersion();
  EXPECT_EQ(old_conn.request("POST", "/v1/chat/completions", old_headers, body).status, 200);
  EXPECT_EQ(chat(fresh), 200);
  EXPECT_LT(std::chrono::steady_clock::now() - rotated_at, std::chrono::milliseconds(1800));

  EXPECT_TRUE(waitFor(
      [&] {
        return old_conn.request("POST", "/v1/chat/completions", old_headers, body).status == 401;
      },
      std::chrono::seconds(5), "the old secret to be refused"));
  EXPECT_GE(std::chrono::steady_clock::now() - rotated_at, std::chrono::milliseconds(1900));
  EXPECT_EQ(cluster_.configVersion(), version);
  EXPECT_EQ(chat(secret_), 401);
  EXPECT_EQ(chat(fresh), 200);
}

TEST_F(KeysTest, UpdatingAKeysModelsAppliesToItsNextRequest) {
  // `key update --model` narrows what the key may call (403 outside it); --clear-models widens
  // it again; `key get -o json` shows the list.
  ASSERT_EQ(chat(secret_, "gpt-3.5-turbo"), 200);
  auto r = cluster_.fwdctl({"key", "update", "alice", "--model", "gpt-4o"});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_TRUE(cluster_.waitInSync());
  EXPECT_EQ(chat(secret_, "gpt-3.5-turbo"), 403);
  EXPECT_EQ(chat(secret_, "gpt-4o"), 200);
  nlohmann::json got = cluster_.fwdctlJson({"key", "get", "alice"});
  EXPECT_EQ(got["models"], nlohmann::json::array({"gpt-4o"})) << got.dump();

  r = cluster_.fwdctl({"key", "update", "alice", "--clear-models"});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_TRUE(cluster_.waitInSync());
  EXPECT_EQ(chat(secret_, "gpt-3.5-turbo"), 200);

  r = cluster_.fwdctl({"key", "update", "nobody", "--clear-models"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.stderr_text.find("key \"nobody\" not found"), std::string::npos) << r.stderr_text;
}

}  // namespace
}  // namespace fwd::harness
