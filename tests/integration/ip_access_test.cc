// IP access rules with the real binaries: global allow/deny, trusted proxies and
// X-Forwarded-For, per-key rules over IPv6 and IPv4-mapped addresses, and bad input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/integration/cluster/fwd_cluster.h"

namespace fwd::harness {
namespace {

class IpAccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.startControlPlane());
    ASSERT_TRUE(cluster_.startUpstream("up1"));
  }

  // A data plane listening on `listen`, an upstream for gpt-*, and a key.
  void start(const std::string& listen = "127.0.0.1:0") {
    ASSERT_TRUE(cluster_.startDataPlane("dp1", {}, {"--listen", listen}));
    auto r = cluster_.fwdctl({"upstream", "add", "local", "--base-url",
                              cluster_.upstream("up1").baseUrl(), "--model", "gpt-*"});
    ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
    key_ = cluster_.createKey("alice");
    ASSERT_TRUE(cluster_.waitInSync());
  }

  void fwdctlOk(std::vector<std::string> args) {
    ASSERT_TRUE(cluster_.fwdctlInSync(std::move(args)));
  }

  Response chat(Headers headers = {}, const std::string& key = "", Endpoint* to = nullptr) {
    headers.emplace("Authorization", "Bearer " + (key.empty() ? key_ : key));
    headers.emplace("Content-Type", "application/json");
    return httpRequest(to != nullptr ? *to : cluster_.dataPlane("dp1").http, "POST",
                       "/v1/chat/completions", headers, R"({"model":"gpt-4o","messages":[]})");
  }

  int upstreamRequests() {
    Response stats = httpRequest(cluster_.upstream("up1").endpoint, "GET", "/_fake/stats");
    auto j = nlohmann::json::parse(stats.body, nullptr, false);
    return j.is_object() ? j.value("requests", -1) : -1;
  }

  // The X-Forwarded-For the upstream received (x-fake-echo-headers), or "" without one.
  std::string forwardedForUpstream(Headers headers) {
    headers.emplace("x-fake-echo-headers", "1");
    Response r = chat(headers);
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (!j.is_object() || !j["headers"].is_array()) {
      ADD_FAILURE() << r.status << " " << r.body;
      return "";
    }
    for (const auto& h : j["headers"]) {
      std::string line = h.get<std::string>();
      if (line.rfind("X-Forwarded-For: ", 0) == 0) {
        return line.substr(17);
      }
    }
    return "";
  }

  static bool refused(const Response& r) {
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    return r.status == 403 && j.is_object() && j["error"].is_object() &&
           j["error"].value("code", "") == "ip_not_allowed";
  }

  FwdCluster cluster_;
  std::string key_;
};

TEST_F(IpAccessTest, ADeniedClientIsRefusedBeforeAnyUpstreamIsContacted) {
  // deny 127.0.0.1: 403 ip_not_allowed, the upstream sees nothing, the refusal is counted;
  // removing the rule lets the client in again; an allow list admits only its blocks.
  start();
  fwdctlOk({"ip", "deny", "127.0.0.1"});
  int before = upstreamRequests();
  EXPECT_TRUE(refused(chat()));
  EXPECT_TRUE(refused(chat({}, "fwd-not-a-key")));  // before authentication
  EXPECT_EQ(upstreamRequests(), before);
  Response metrics = httpRequest(cluster_.dataPlane("dp1").admin, "GET", "/metrics");
  EXPECT_NE(metrics.body.find("fwd_ip_refusals_total{scope=\"global\"} 2"), std::string::npos);
  nlohmann::json rules = cluster_.fwdctlJson({"ip", "list"});
  ASSERT_EQ(rules["rules"].size(), 1u) << rules.dump();
  EXPECT_EQ(rules["rules"][0]["cidr"], "127.0.0.1/32");
  EXPECT_EQ(rules["rules"][0]["action"], "deny");

  fwdctlOk({"ip", "remove", "127.0.0.1"});
  EXPECT_EQ(chat().status, 200);
  fwdctlOk({"ip", "allow", "10.0.0.0/8"});
  EXPECT_TRUE(refused(chat()));
  fwdctlOk({"ip", "allow", "127.0.0.0/8"});
  EXPECT_EQ(chat().status, 200);
}

TEST_F(IpAccessTest, XForwardedForIsBelievedOnlyFromTrustedProxies) {
  // Untrusted, a client's X-Forwarded-For is ignored and replaced. With 127.0.0.1 trusted, the
  // first untrusted address from the right is the client: deny rules apply to it, and the
  // upstream gets the believed chain plus the peer.
  start();
  fwdctlOk({"ip", "deny", "203.0.113.0/24"});
  EXPECT_EQ(chat({{"X-Forwarded-For", "203.0.113.9"}}).status, 200);
  EXPECT_EQ(forwardedForUpstream({{"X-Forwarded-For", "203.0.113.9"}}), "127.0.0.1");

  fwdctlOk({"ip", "trust", "127.0.0.1"});
  EXPECT_TRUE(refused(chat({{"X-Forwarded-For", "203.0.113.9"}})));
  EXPECT_TRUE(refused(chat({{"X-Forwarded-For", "198.51.100.1, 203.0.113.9"}})));
  EXPECT_EQ(chat({{"X-Forwarded-For", "203.0.113.9, 198.51.100.7"}}).status, 200);
  EXPECT_EQ(forwardedForUpstream({{"X-Forwarded-For", "203.0.113.9, 198.51.100.7"}}),
            "198.51.100.7, 127.0.0.1");
  EXPECT_EQ(forwardedForUpstream({}), "127.0.0.1");
}

TEST_F(IpAccessTest, KeyRulesMatchIPv6AndIPv4MappedClients) {
  // On a dual-stack listener a v4 client arrives as ::ffff:127.0.0.1 and matches 127.0.0.1;
  // a key allowed only from ::1 works over IPv6 and is refused over IPv4.
  start("[::]:0");
  Endpoint v6 = cluster_.dataPlane("dp1").http;
  v6.host = "::1";
  std::string six =
      cluster_.fwdctlJson({"key", "create", "six", "--allow-ip", "::1"}).value("key", "");
  std::string no_local =
      cluster_.fwdctlJson({"key", "create", "no-local", "--deny-ip", "127.0.0.0/8"})
          .value("key", "");
  ASSERT_TRUE(cluster_.waitInSync());
  EXPECT_EQ(chat({}, six, &v6).status, 200);
  Response over_v4 = chat({}, six);
  EXPECT_TRUE(refused(over_v4)) << over_v4.status << " " << over_v4.body;
  EXPECT_NE(over_v4.body.find("Requests from 127.0.0.1 are not allowed for this API key."),
            std::string::npos)
      << over_v4.body;
  EXPECT_TRUE(refused(chat({}, no_local)));
  EXPECT_EQ(chat({}, no_local, &v6).status, 200);
  EXPECT_EQ(chat().status, 200);  // a key without rules, over v4

  auto r = cluster_.fwdctl({"key", "update", "six", "--clear-allow-ip"});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  ASSERT_TRUE(cluster_.waitInSync());
  EXPECT_EQ(chat({}, six).status, 200);
  Response metrics = httpRequest(cluster_.dataPlane("dp1").admin, "GET", "/metrics");
  EXPECT_NE(metrics.body.find("fwd_ip_refusals_total{scope=\"key\"} 2"), std::string::npos);
}

TEST_F(IpAccessTest, BadBlocksAreRefusedWithAPreciseError) {
  // Host bits set, a length out of range, a name: each refused by the control plane, naming it.
  start();
  auto r = cluster_.fwdctl({"ip", "allow", "10.0.0.1/8"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.stderr_text.find("\"10.0.0.1/8\": host bits are set; the block is 10.0.0.0/8"),
            std::string::npos)
      << r.stderr_text;
  r = cluster_.fwdctl({"ip", "deny", "2001:db8::/129"});
  EXPECT_NE(r.stderr_text.find("the prefix length must be 0 to 128"), std::string::npos)
      << r.stderr_text;
  r = cluster_.fwdctl({"key", "create", "bad", "--allow-ip", "office"});
  EXPECT_NE(r.stderr_text.find("allow_ips[0] \"office\" is not an IP address"), std::string::npos)
      << r.stderr_text;
  r = cluster_.fwdctl({"ip", "remove", "192.0.2.0/24"});
  EXPECT_NE(r.stderr_text.find("no ip rule for 192.0.2.0/24"), std::string::npos) << r.stderr_text;
  r = cluster_.fwdctl({"ip", "deny", "192.0.2.0/24"});
  ASSERT_EQ(r.exit_code, 0);
  r = cluster_.fwdctl({"ip", "deny", "192.0.2.0/24"});
  EXPECT_NE(r.stderr_text.find("already exists"), std::string::npos) << r.stderr_text;
}

}  // namespace
}  // namespace fwd::harness
