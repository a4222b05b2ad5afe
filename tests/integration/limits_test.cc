// Limits with the real binaries, counted in memory on one data plane: a key's request rate
// under each strategy (429 rate_limit_exceeded with Retry-After, before any upstream is
// contacted), OpenAI's x-ratelimit-*-requests headers on every answer (replacing the
// upstream's), concurrent clients racing for the last slots, in-flight caps, default limits
// from the settings, limits changed live without resetting windows, windows rolling over in
// real time, and bad values refused by fwdctl.
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/integration/cluster/fwd_cluster.h"

namespace fwd::harness {
namespace {

using Json = nlohmann::json;

constexpr char kChatBody[] = R"({"model":"gpt-4o","messages":[]})";
// The fake reports prompt_tokens 10 and one completion token per chunk (3 for a JSON answer).
constexpr char kStream[] = R"({"model":"gpt-4o","stream":true,"messages":[]})";

class LimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.startControlPlane());
    ASSERT_TRUE(cluster_.startUpstream("up1"));
    ASSERT_TRUE(cluster_.startDataPlane("dp1"));
    fwdctlOk({"upstream", "add", "local", "--base-url", cluster_.upstream("up1").baseUrl(),
              "--model", "gpt-*"});
  }

  void fwdctlOk(std::vector<std::string> args) {
    ASSERT_TRUE(cluster_.fwdctlInSync(std::move(args)));
  }

  // A key with the given `fwdctl key create` flags.
  std::string key(const std::string& name, std::vector<std::string> flags) {
    return cluster_.createKeyInSync(name, std::move(flags));
  }

  Response chat(const std::string& secret, Headers headers = {}) {
    return cluster_.call("dp1", "POST", "/v1/chat/completions", secret, kChatBody, headers);
  }

  int upstreamRequests() {
    Response stats = httpRequest(cluster_.upstream("up1").endpoint, "GET", "/_fake/stats");
    auto j = Json::parse(stats.body, nullptr, false);
    return j.is_object() ? j.value("requests", -1) : -1;
  }

  // The error message of an answer ("" when it has none).
  static std::string message(const Response& r) {
    Json j = Json::parse(r.body, nullptr, false);
    return j.is_object() && j["error"]["message"].is_string()
               ? j["error"]["message"].get<std::string>()
               : "";
  }

  std::string metrics() {
    return httpRequest(cluster_.dataPlane("dp1").admin, "GET", "/metrics").body;
  }

  FwdCluster cluster_;
};

TEST_F(LimitsTest, ARateRefusesWith429AndEveryAnswerCarriesTheHeaders) {
  // Elastic expiry: the hour starts at the first request, so no boundary falls in the test.
  std::string k =
      key("team", {"--rate", "3/hour", "--rate-strategy", "fixed-window-elastic-expiry"});
  for (int i = 0; i < 3; ++i) {
    Response r = chat(k);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("x-ratelimit-limit-requests"), "3");
    EXPECT_EQ(r.header("x-ratelimit-remaining-requests"), std::to_string(2 - i));
    EXPECT_EQ(r.header("x-ratelimit-reset-requests"), "1h0m0s");
    // The upstream's own x-ratelimit-* (the fake sends remaining 999) is not passed on.
    EXPECT_EQ(r.headers.count("x-ratelimit-remaining-requests"), 1u);
  }
  int reached = upstreamRequests();
  Response refused = chat(k);
  EXPECT_EQ(refused.status, 429);
  EXPECT_EQ(refused.header("retry-after"), "3600");
  EXPECT_EQ(refused.header("x-ratelimit-remaining-requests"), "0");
  Json error = Json::parse(refused.body, nullptr, false);
  EXPECT_EQ(error["error"]["code"], "rate_limit_exceeded") << refused.body;
  EXPECT_EQ(error["error"]["type"], "requests");
  EXPECT_EQ(error["error"]["message"],
            "Rate limit reached for requests: this API key may make 3/hour. Retry in 1h0m0s.");
  EXPECT_EQ(upstreamRequests(), reached);  // no upstream was contacted
  // /v1/models answered by fwd itself is counted and carries the headers too.
  Response models = cluster_.call("dp1", "GET", "/v1/models", k);
  EXPECT_EQ(models.status, 429);

  // A key without limits gets no headers of fwd's: the upstream's pass through.
  std::string free_key = key("free", {});
  Response free = chat(free_key);
  EXPECT_EQ(free.status, 200);
  EXPECT_EQ(free.header("x-ratelimit-remaining-requests"), "999");
  EXPECT_FALSE(free.hasHeader("x-ratelimit-limit-requests"));
  EXPECT_NE(metrics().find("fwd_limited_requests_total{reason=\"rate\",scope=\"key\"} 2"),
            std::string::npos);
}

TEST_F(LimitsTest, ConcurrentClientsNeverGetMoreThanTheLimit) {
  std::string k =
      key("burst", {"--rate", "40/hour", "--rate-strategy", "fixed-window-elastic-expiry"});
  std::atomic<int> ok{0}, limited{0}, other{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 10; ++c) {
    clients.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        int status = chat(k).status;
        (status == 200 ? ok : status == 429 ? limited : other)++;
      }
    });
  }
  for (auto& t : clients) {
    t.join();
  }
  EXPECT_EQ(ok.load(), 40);
  EXPECT_EQ(limited.load(), 60);
  EXPECT_EQ(other.load(), 0);
}

TEST_F(LimitsTest, MaxParallelCapsRequestsInFlightAndGivesSlotsBack) {
  std::string k = key("agent", {"--max-parallel", "2"});
  std::atomic<int> ok{0}, limited{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 5; ++c) {
    clients.emplace_back([&] {
      Response r = chat(k, {{"x-fake-stall-ms", "3000"}});
      if (r.status == 200) {
        ++ok;
      } else if (r.status == 429) {
        ++limited;
        EXPECT_EQ(r.header("retry-after"), "1");
        EXPECT_NE(r.body.find("too many requests in flight"), std::string::npos) << r.body;
      }
    });
  }
  for (auto& t : clients) {
    t.join();
  }
  EXPECT_EQ(ok.load(), 2);
  EXPECT_EQ(limited.load(), 3);
  // The slots came back when those requests finished; an upstream error gives its slot back too.
  EXPECT_EQ(chat(k, {{"x-fake-status", "500"}}).status, 502);
  EXPECT_EQ(chat(k, {{"x-fake-status", "400"}}).status, 400);
  EXPECT_EQ(chat(k).status, 200);
  EXPECT_EQ(chat(k).status, 200);
  EXPECT_NE(metrics().find("fwd_limited_requests_total{reason=\"parallel\",scope=\"key\"} 3"),
            std::string::npos);
}

TEST_F(LimitsTest, AClientThatHasTheAnswerFindsItsSlotGivenBack) {
  // The slot comes back before the answer's last bytes leave (kOnComplete), not after: a client
  // that sends its next request the moment it has an answer, on a new connection that may land
  // on another worker, never finds the slot still taken. JSON answers, streams and errors.
  std::string k = key("serial", {"--max-parallel", "1"});
  for (int i = 0; i < 60; ++i) {
    ASSERT_EQ(chat(k).status, 200) << "request " << i;
    ASSERT_EQ(cluster_.call("dp1", "POST", "/v1/chat/completions", k, kStream).status, 200)
        << "stream " << i;
    ASSERT_EQ(chat(k, {{"x-fake-status", "400"}}).status, 400) << "error " << i;
  }
}

TEST_F(LimitsTest, DefaultsApplyToKeysWithoutTheirOwnAndChangesKeepTheCount) {
  fwdctlOk({"settings", "set", "default_rate", "2/hour"});
  fwdctlOk({"settings", "set", "default_rate_strategy", "fixed-window-elastic-expiry"});
  std::string plain = key("plain", {});
  std::string own = key("own", {"--rate", "4/hour"});
  EXPECT_EQ(chat(plain).status, 200);
  EXPECT_EQ(chat(plain).status, 200);
  EXPECT_EQ(chat(plain).status, 429);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(chat(own).status, 200);
  }
  EXPECT_NE(metrics().find("fwd_limited_requests_total{reason=\"rate\",scope=\"default\"} 1"),
            std::string::npos);
  // A change elsewhere in the config keeps the windows: "own" has one request left.
  fwdctlOk({"key", "update", "own", "--errors-as-200=false"});
  Response last = chat(own);
  EXPECT_EQ(last.status, 200);
  EXPECT_EQ(last.header("x-ratelimit-remaining-requests"), "0");
  EXPECT_EQ(chat(own).status, 429);
  // Lowered live; cleared, the default applies (a new window of the default's own).
  fwdctlOk({"key", "update", "own", "--rate", "10/hour"});
  EXPECT_EQ(chat(own).status, 200);
  fwdctlOk({"key", "update", "own", "--clear-rate"});
  Json shown = cluster_.fwdctlJson({"key", "get", "own"});
  EXPECT_EQ(shown["limits"]["rate"], nullptr);
  EXPECT_EQ(chat(own).header("x-ratelimit-limit-requests"), "2");
  fwdctlOk({"settings", "set", "default_rate", "none"});
  EXPECT_FALSE(chat(own).hasHeader("x-ratelimit-limit-requests"));
}

TEST_F(LimitsTest, KeyGetShowsEachLimitsCountAndResetAndTheBudgetSpentAndLeft) {
  std::string k =
      key("seen", {"--rate", "3/hour", "--rate-strategy", "fixed-window-elastic-expiry", "--tokens",
                   "100/hour", "--max-parallel", "2", "--budget-tokens", "1000/total"});
  ASSERT_EQ(chat(k).status, 200);
  ASSERT_EQ(chat(k).status, 200);
  Json shown = cluster_.fwdctlJson({"key", "get", "seen"});
  ASSERT_EQ(shown["counts"]["nodes"].size(), 1u) << shown.dump();
  const Json& node = shown["counts"]["nodes"][0];
  EXPECT_EQ(node["node_id"], "dp1");
  EXPECT_TRUE(node["error"].is_null());
  const Json& state = node["state"];
  EXPECT_EQ(state["source"], "memory");
  EXPECT_EQ(state["rate_strategy"], "fixed-window-elastic-expiry");
  ASSERT_EQ(state["requests"].size(), 1u) << state.dump();
  EXPECT_EQ(state["requests"][0]["limit"], 3);
  EXPECT_EQ(state["requests"][0]["window_ms"], 3600000);
  EXPECT_EQ(state["requests"][0]["used"], 2);
  EXPECT_EQ(state["requests"][0]["remaining"], 1);
  EXPECT_GT(state["requests"][0]["reset_ms"].get<std::int64_t>(), 3500000);
  EXPECT_LE(state["requests"][0]["reset_ms"].get<std::int64_t>(), 3600000);
  EXPECT_EQ(state["requests"][0]["scope"], "key");
  // Each JSON answer of the fake reports 13 tokens.
  ASSERT_EQ(state["tokens"].size(), 1u);
  EXPECT_EQ(state["tokens"][0]["used"], 26);
  EXPECT_EQ(state["tokens"][0]["remaining"], 74);
  EXPECT_EQ(state["in_flight"], 0);
  EXPECT_EQ(state["max_parallel"], 2);
  ASSERT_EQ(state["budgets"].size(), 1u);
  EXPECT_EQ(state["budgets"][0]["kind"], "tokens");
  EXPECT_EQ(state["budgets"][0]["period"], "total");
  EXPECT_EQ(state["budgets"][0]["spent"], 26);
  EXPECT_EQ(state["budgets"][0]["left"], 974);
  EXPECT_TRUE(state["budgets"][0]["reset_ms"].is_null());  // a total budget never renews

  // Reading counts nothing: the next request still finds one left.
  Response r = chat(k);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("x-ratelimit-remaining-requests"), "0");

  CommandResult text = cluster_.fwdctl({"key", "get", "seen"});
  ASSERT_EQ(text.exit_code, 0) << text.stderr_text;
  EXPECT_NE(text.stdout_text.find("counts on \"dp1\": this data plane's memory\n"),
            std::string::npos)
      << text.stdout_text;
  EXPECT_NE(text.stdout_text.find("  requests 3/hour: 3 used, 0 left, resets in "),
            std::string::npos)
      << text.stdout_text;
  EXPECT_NE(text.stdout_text.find("  tokens 100/hour: 39 used, 61 left, resets in "),
            std::string::npos)
      << text.stdout_text;
  EXPECT_NE(text.stdout_text.find("  in flight: 0 of 2\n"), std::string::npos) << text.stdout_text;
  EXPECT_NE(text.stdout_text.find("  budget 1000 tokens/total: 39 spent, 961 left\n"),
            std::string::npos)
      << text.stdout_text;

  // A key without limits shows none.
  key("free", {});
  Json none = cluster_.fwdctlJson({"key", "get", "free"})["counts"]["nodes"][0]["state"];
  EXPECT_TRUE(none["requests"].empty() && none["tokens"].empty() && none["budgets"].empty())
      << none.dump();
  CommandResult free = cluster_.fwdctl({"key", "get", "free"});
  EXPECT_EQ(free.stdout_text.find("counts"), std::string::npos) << free.stdout_text;
}

TEST_F(LimitsTest, WindowsRollOverInRealTime) {
  // A fixed one-second window: refused within the second, admitted again after it.
  std::string k = key("tick", {"--rate", "2/second"});
  int ok = 0;
  Response r;
  for (int i = 0; i < 10 && (r = chat(k)).status == 200; ++i) {
    ++ok;
  }
  ASSERT_EQ(r.status, 429) << "never refused";
  EXPECT_GE(ok, 2);
  EXPECT_LE(ok, 4);  // at most two windows' worth when the burst straddles a boundary
  EXPECT_EQ(r.header("retry-after"), "1");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(chat(k).status, 200);

  // Sliding: after a full window of 2 the next window admits as the previous one fades.
  std::string s = key("slide", {"--rate", "2/second", "--rate-strategy", "sliding-window"});
  while (chat(s).status == 200) {
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  EXPECT_EQ(chat(s).status, 200);
}

TEST_F(LimitsTest, TokensAreCountedFromUsageForAnswersAndStreams) {
  // 100 tokens per minute (in an hour window too, so a minute boundary during the test does not
  // reset everything: the hour is what the assertions read).
  std::string k = key("tok", {"--tpm", "100", "--tokens", "60/hour"});
  // The reservation: the body's bytes / 4, rounded up.
  const int chat_estimate = (static_cast<int>(std::string(kChatBody).size()) + 3) / 4;
  const int stream_estimate = (static_cast<int>(std::string(kStream).size()) + 3) / 4;
  Response r = chat(k);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("x-ratelimit-limit-tokens"), "60");
  EXPECT_EQ(r.header("x-ratelimit-remaining-tokens"), std::to_string(60 - chat_estimate));
  // The JSON answer reported 13: the next reservation sees 60 - 13 left.
  r = chat(k);
  EXPECT_EQ(r.header("x-ratelimit-remaining-tokens"), std::to_string(60 - 13 - chat_estimate));

  // A stream whose client did not ask for usage: fwd asks, counts 10 + 5, and the client sees
  // no usage chunk.
  Response s = cluster_.call("dp1", "POST", "/v1/chat/completions", k, kStream);
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(s.body.find("\"choices\":[]"), std::string::npos) << s.body;
  EXPECT_NE(s.body.find("data: [DONE]"), std::string::npos);
  r = chat(k);
  EXPECT_EQ(r.header("x-ratelimit-remaining-tokens"), std::to_string(60 - 26 - 15 - chat_estimate));
  EXPECT_GT(stream_estimate, 0);
  // 60 - 26 - 15 - 13 = 6 left: a request needing more is refused, with the tokens triplet.
  Response refused = chat(k);
  EXPECT_EQ(refused.status, 429);
  Json error = Json::parse(refused.body, nullptr, false);
  EXPECT_EQ(error["error"]["type"], "tokens") << refused.body;
  EXPECT_EQ(error["error"]["code"], "rate_limit_exceeded");
  EXPECT_EQ(refused.header("x-ratelimit-remaining-tokens"), "6");
  EXPECT_FALSE(refused.header("retry-after").empty());
  EXPECT_NE(metrics().find("fwd_limited_requests_total{reason=\"tokens\",scope=\"key\"} 1"),
            std::string::npos);
}

TEST_F(LimitsTest, AStreamThatAskedForUsageKeepsItsChunkAndUnreportedUsageIsEstimated) {
  std::string k = key("est", {"--tokens", "1000/hour"});
  Response s = cluster_.call(
      "dp1", "POST", "/v1/chat/completions", k,
      R"({"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[]})");
  ASSERT_EQ(s.status, 200);
  EXPECT_NE(s.body.find("\"choices\":[]"), std::string::npos) << s.body;  // the client asked
  Response r = chat(k);
  int before = std::stoi(r.header("x-ratelimit-remaining-tokens"));
  // An upstream that reports nothing: the prompt's estimate and one token per content chunk
  // (5) are counted, not 0.
  const int stream_estimate = (static_cast<int>(std::string(kStream).size()) + 3) / 4;
  Response quiet =
      cluster_.call("dp1", "POST", "/v1/chat/completions", k, kStream, {{"x-fake-no-usage", "1"}});
  ASSERT_EQ(quiet.status, 200);
  r = chat(k);
  EXPECT_EQ(std::stoi(r.header("x-ratelimit-remaining-tokens")),
            before - 13 - (stream_estimate + 5));
  // A request too large for the window is refused outright, saying so.
  Response huge = cluster_.call("dp1", "POST", "/v1/chat/completions", k,
                                R"({"model":"gpt-4o","max_tokens":5000,"messages":[]})");
  EXPECT_EQ(huge.status, 429);
  EXPECT_NE(huge.body.find("Request too large"), std::string::npos) << huge.body;
  // An upstream error uses nothing: the reservation is given back.
  r = chat(k);
  int left = std::stoi(r.header("x-ratelimit-remaining-tokens"));
  EXPECT_EQ(chat(k, {{"x-fake-status", "400"}}).status, 400);
  EXPECT_EQ(std::stoi(chat(k).header("x-ratelimit-remaining-tokens")), left - 13);
}

TEST_F(LimitsTest, AMoneyBudgetRefusesWithInsufficientQuotaOnceSpentUntilItRenews) {
  // gpt-4o at $2.50 / $10 per 1M tokens: a JSON answer (10 + 3 tokens) costs $0.000055, a
  // stream (10 + 5) $0.000075.
  fwdctlOk({"price", "set", "gpt-4o", "--input", "2.50", "--output", "10"});
  std::string k = key("spender", {"--budget-usd", "0.0001/day"});
  ASSERT_EQ(chat(k).status, 200);
  // $0.000055 spent, under the budget: a stream is admitted, counted from the usage fwd asked
  // for, which the client does not see.
  Response s = cluster_.call("dp1", "POST", "/v1/chat/completions", k, kStream);
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(s.body.find("\"choices\":[]"), std::string::npos) << s.body;
  // $0.00013 spent: refused before anything goes upstream, as OpenAI refuses an account out of
  // credit.
  Response refused = chat(k);
  EXPECT_EQ(refused.status, 429);
  Json error = Json::parse(refused.body, nullptr, false);
  EXPECT_EQ(error["error"]["type"], "insufficient_quota") << refused.body;
  EXPECT_EQ(error["error"]["code"], "insufficient_quota");
  EXPECT_NE(refused.body.find("budget of $0.0001 per day is spent ($0.00013 used)"),
            std::string::npos)
      << refused.body;
  int retry = std::atoi(refused.header("retry-after").c_str());
  EXPECT_GE(retry, 1);
  EXPECT_LE(retry, 86'400);  // the next 00:00 UTC
  EXPECT_EQ(upstreamRequests(), 2);
  EXPECT_NE(metrics().find("fwd_limited_requests_total{reason=\"budget\",scope=\"key\"} 1"),
            std::string::npos);
  // fwd's own answer to GET /v1/models spends nothing and is not refused.
  EXPECT_EQ(cluster_.call("dp1", "GET", "/v1/models", k).status, 200);
  // A larger budget (what was spent is kept): room for one more.
  fwdctlOk({"key", "update", "spender", "--budget-usd", "0.00014/day"});
  EXPECT_EQ(chat(k).status, 200);
  EXPECT_EQ(chat(k).status, 429);
  fwdctlOk({"key", "update", "spender", "--clear-budget-usd"});
  EXPECT_EQ(chat(k).status, 200);
}

TEST_F(LimitsTest, TokenBudgetsCountEveryAnswerAndUnpricedModelsAreNotFree) {
  std::string k = key("tokens", {"--budget-tokens", "20/total"});
  EXPECT_EQ(chat(k).status, 200);  // 13 tokens
  EXPECT_EQ(chat(k).status, 200);  // 26
  Response refused = chat(k);
  EXPECT_EQ(refused.status, 429);
  EXPECT_NE(refused.body.find("budget of 20 tokens in total is spent (26 used). It does not "
                              "renew"),
            std::string::npos)
      << refused.body;
  EXPECT_FALSE(refused.hasHeader("retry-after"));  // a total budget never renews

  // A default money budget, for every key without its own; a model without a price counts as
  // unpriced (never as $0 spent, never refused for it), seen in a metric.
  fwdctlOk({"settings", "set", "default_budget_usd", "0.000001/month"});
  std::string plain = key("plain", {});
  const std::string mini = R"({"model":"gpt-4o-mini","messages":[]})";
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(cluster_.call("dp1", "POST", "/v1/chat/completions", plain, mini).status, 200);
  }
  EXPECT_NE(metrics().find("fwd_unpriced_requests_total{model=\"gpt-4o-mini\"} 3"),
            std::string::npos);
  fwdctlOk({"price", "set", "gpt-4o-*", "--input", "1", "--output", "1"});
  EXPECT_EQ(cluster_.call("dp1", "POST", "/v1/chat/completions", plain, mini).status, 200);
  Response spent = cluster_.call("dp1", "POST", "/v1/chat/completions", plain, mini);
  EXPECT_EQ(spent.status, 429);
  EXPECT_NE(metrics().find("fwd_limited_requests_total{reason=\"budget\",scope=\"default\"} 1"),
            std::string::npos);
}

TEST_F(LimitsTest, RouteLimitsCountPerKeyOnTheRouteOrSharedByEveryKey) {
  // Elastic expiry: the hour starts at the first request, so no boundary falls in the test.
  fwdctlOk({"route", "add", "chat", "--model", "gpt-4o", "--upstream", "local", "--rate", "2/hour",
            "--rate-strategy", "fixed-window-elastic-expiry"});
  std::string a = key("a", {});
  std::string b = key("b", {});
  EXPECT_EQ(chat(a).status, 200);
  Response second = chat(a);
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.header("x-ratelimit-limit-requests"), "2");  // the route's: the key has none
  EXPECT_EQ(second.header("x-ratelimit-remaining-requests"), "0");
  Response refused = chat(a);
  EXPECT_EQ(refused.status, 429);
  EXPECT_NE(message(refused).find("this API key on route \"chat\" may make 2/hour"),
            std::string::npos)
      << refused.body;
  EXPECT_FALSE(refused.header("retry-after").empty());
  EXPECT_EQ(chat(b).status, 200);  // per key: b has its own two
  // A model the route does not match is not counted on it.
  const std::string mini = R"({"model":"gpt-4o-mini","messages":[]})";
  EXPECT_EQ(cluster_.call("dp1", "POST", "/v1/chat/completions", a, mini).status, 200);
  EXPECT_NE(metrics().find("fwd_limited_requests_total{reason=\"rate\",scope=\"route\"} 1"),
            std::string::npos);

  // Shared: every key's requests count together (in counts of their own, so from 0).
  fwdctlOk({"route", "update", "chat", "--shared"});
  EXPECT_EQ(chat(a).status, 200);
  EXPECT_EQ(chat(b).status, 200);
  Response all = chat(b);
  EXPECT_EQ(all.status, 429);
  EXPECT_NE(message(all).find("route \"chat\" (all keys together) may make 2/hour"),
            std::string::npos)
      << all.body;

  // Tokens per key on the route: 20 an hour; a request reserves 9 (its 33 bytes / 4) and uses
  // 13, so a second does not fit. The key's own tighter rate decides over the route's.
  fwdctlOk({"route", "update", "chat", "--clear-rate", "--clear-rate-strategy", "--shared=false",
            "--tokens", "20/hour"});
  std::string c = key("c", {});
  EXPECT_EQ(chat(c).status, 200);
  Response tokens = chat(c);
  EXPECT_EQ(tokens.status, 429);
  EXPECT_NE(message(tokens).find("Rate limit reached for tokens: this API key on route \"chat\""),
            std::string::npos)
      << tokens.body;
  fwdctlOk({"route", "update", "chat", "--clear-tokens"});
  std::string d = key("d", {"--rate", "1/hour", "--rate-strategy", "fixed-window-elastic-expiry"});
  fwdctlOk({"route", "update", "chat", "--rate", "5/hour"});
  EXPECT_EQ(chat(d).status, 200);
  Response tight = chat(d);
  EXPECT_EQ(tight.status, 429);
  EXPECT_NE(message(tight).find("this API key may make 1/hour"), std::string::npos) << tight.body;
  Json route = cluster_.fwdctlJson({"route", "get", "chat"});
  EXPECT_EQ(route["limits"]["rate"], "5/hour");
  EXPECT_EQ(route["limits_shared"], false);
}

TEST_F(LimitsTest, StreamPacingDeliversContentNoFasterThanThePace) {
  // 10 content events the upstream writes all at once; paced at 20 tokens a second (about one
  // per event) they reach the client over at least 9 × 50 ms, whole and in order.
  std::string paced = key("paced", {"--stream-pace", "20/second"});
  std::string free = key("free", {});
  Headers burst = {{"x-fake-chunks", "10"}, {"x-fake-events-per-write", "100"}};
  auto events = [](const std::string& body) {
    size_t n = 0;
    for (size_t at = body.find("data: "); at != std::string::npos;
         at = body.find("data: ", at + 1)) {
      ++n;
    }
    return n;
  };
  Response unpaced = cluster_.call("dp1", "POST", "/v1/chat/completions", free, kStream, burst);
  ASSERT_EQ(unpaced.status, 200) << unpaced.body;
  auto start = std::chrono::steady_clock::now();
  Response r = cluster_.call("dp1", "POST", "/v1/chat/completions", paced, kStream, burst);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_GE(took, std::chrono::milliseconds(450));
  EXPECT_EQ(events(r.body), events(unpaced.body));
  EXPECT_NE(r.body.find("data: [DONE]"), std::string::npos);
  // A JSON answer is not paced; fwdctl shows the pace.
  EXPECT_EQ(chat(paced).status, 200);
  EXPECT_EQ(cluster_.fwdctlJson({"key", "get", "paced"})["limits"]["stream_pace"], "20/second");
}

TEST_F(LimitsTest, PricesAreSetListedUpdatedAndRemovedWithFwdctl) {
  auto r = cluster_.fwdctl({"price", "set", "gpt-4o", "--input", "2.50", "--output", "10"});
  ASSERT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_NE(r.stdout_text.find("price of \"gpt-4o\" set: input $2.5, output $10, cached input as "
                               "input per 1M tokens"),
            std::string::npos)
      << r.stdout_text;
  fwdctlOk({"price", "set", "gpt-4o-mini*", "--input", "0.15", "--output", "0.6", "--cached-input",
            "0.075"});
  fwdctlOk({"price", "update", "gpt-4o", "--output", "8"});
  Json list = cluster_.fwdctlJson({"price", "list"});
  ASSERT_EQ(list["prices"].size(), 2u) << list.dump();
  EXPECT_EQ(list["prices"][0]["model"], "gpt-4o");
  EXPECT_EQ(list["prices"][0]["output_usd_per_1m"], 8.0);
  EXPECT_EQ(list["prices"][0]["cached_input_usd_per_1m"], nullptr);
  EXPECT_EQ(list["prices"][1]["cached_input_usd_per_1m"], 0.075);
  Json one = cluster_.fwdctlJson({"price", "get", "gpt-4o-mini*"});
  EXPECT_EQ(one["input_usd_per_1m"], 0.15);
  fwdctlOk({"price", "remove", "gpt-4o"});
  auto gone = cluster_.fwdctl({"price", "get", "gpt-4o"});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_NE(gone.stderr_text.find("model \"gpt-4o\" has no price"), std::string::npos)
      << gone.stderr_text;
  auto missing = cluster_.fwdctl({"price", "update", "gpt-5", "--input", "1"});
  EXPECT_EQ(missing.exit_code, 1);
}

TEST_F(LimitsTest, BadLimitsArePreciseErrors) {
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"key", "create", "k", "--rate", "10/fortnight"},
       "--rate: invalid rate \"10/fortnight\": expected COUNT/[N]UNIT such as 60/minute or "
       "100/2minutes, UNIT one of second, minute, hour, day; several joined by ';'"},
      {{"key", "create", "k", "--rate", "-1/minute"},
       "--rate: invalid rate \"-1/minute\": the count must be a whole number from 1 to "
       "1000000000000"},
      {{"key", "create", "k", "--max-parallel", "0"},
       "--max-parallel must be at least 1 (to remove the limit, use --clear-max-parallel)"},
      {{"key", "create", "k", "--tpm", "0"},
       "--tpm \"0\": expected a whole number of tokens per minute, at least 1 (to remove the "
       "limit, use --clear-tpm)"},
      {{"key", "create", "k", "--tpm", "10", "--tokens", "100/minute"},
       "limits.tokens[0]: a one-minute window and tpm both limit tokens per minute; keep one"},
      {{"key", "create", "k", "--rate", "2000000000/minute"},
       "limits.rate[0]: count 2000000000 must be 1..1000000000 requests"},
      {{"price", "set", "gpt 4o", "--input", "2.50", "--output", "10"},
       "price.model \"gpt 4o\": not a valid model name or pattern: use 1 to 256 printable ASCII "
       "characters without spaces, '*' matches any run of characters"},
      {{"price", "set", "gpt-4o", "--input", "2,50", "--output", "10"},
       "--input: invalid amount \"2,50\": expected US dollars as a decimal such as 2.50 or 0.075 "
       "(at most 6 decimals, at most 1000000)"},
      {{"settings", "set", "default_rate", "5/fortnight"},
       "setting default_rate: invalid rate \"5/fortnight\": expected COUNT/[N]UNIT such as "
       "60/minute or 100/2minutes, UNIT one of second, minute, hour, day; several joined by "
       "';'"},
  };
  for (const auto& [args, message] : cases) {
    auto r = cluster_.fwdctl(args);
    EXPECT_NE(r.exit_code, 0) << message;
    EXPECT_NE(r.stderr_text.find(message), std::string::npos) << r.stderr_text;
  }
}

}  // namespace
}  // namespace fwd::harness
