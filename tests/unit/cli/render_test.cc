// Table and JSON rendering against golden strings: column alignment, credential display, the
// upstream health the data planes report, key listings without secrets, status with in-sync
// computation and per-node upstream state, and the fixed JSON key order.
#include <gtest/gtest.h>

#include "cli/commands/format.h"
#include "cli/commands/health.h"
#include "cli/commands/key.h"
#include "cli/commands/key_counts.h"
#include "cli/commands/status.h"
#include "cli/commands/upstream.h"

namespace fwd::cli::commands {
namespace {

// 2026-11-22T10:00:00Z
constexpr std::int64_t kCreated = 1795341600;

fwd::v1::Upstream envUpstream() {
  fwd::v1::Upstream u;
  u.set_name("openai");
  u.set_base_url("https://api.openai.com/v1");
  u.set_api_key_env("OPENAI_API_KEY");
  u.add_models("gpt-4*");
  u.add_models("o1");
  u.set_priority(0);
  u.set_weight(3);
  u.mutable_timeout()->set_seconds(30);
  u.set_id(1);
  u.mutable_create_time()->set_seconds(kCreated);
  u.mutable_update_time()->set_seconds(kCreated + 90);
  fwd::v1::UpstreamHealthSummary* h = u.mutable_health();
  h->set_nodes_reporting(3);
  h->set_nodes_ejected(1);
  h->set_nodes_cooling(1);
  h->set_ejections(4);
  return u;
}

fwd::v1::Upstream keyUpstream() {
  fwd::v1::Upstream u;
  u.set_name("local");
  u.set_base_url("http://127.0.0.1:11434/v1");
  u.set_api_key_hint("…abcd");
  u.add_models("llama*");
  u.set_priority(10);
  u.set_id(2);
  u.set_insecure_skip_verify(true);
  u.mutable_create_time()->set_seconds(kCreated);
  u.mutable_update_time()->set_seconds(kCreated);
  u.mutable_health()->set_nodes_reporting(2);
  u.mutable_health()->set_ejections(7);
  return u;
}

// No health summary at all: what an older control plane, or an add/update answer, sends.
fwd::v1::Upstream bareUpstream() {
  fwd::v1::Upstream u;
  u.set_name("bare");
  u.set_base_url("http://h");
  u.set_weight(1);
  u.mutable_timeout()->set_nanos(500'000'000);
  return u;
}

TEST(CliRenderTest, UpstreamTableAlignsColumnsAndShowsCredentials) {
  // Golden table: header row, columns padded to the widest cell (the "…" counts as one),
  // effective weight/timeout defaults, the provider, env:/key/- credentials, HEALTH, no trailing
  // spaces.
  fwd::v1::Upstream bare = bareUpstream();
  bare.set_provider(fwd::v1::PROVIDER_AZURE);
  EXPECT_EQ(upstreamTable({envUpstream(), keyUpstream(), bare}),
            "NAME    BASE_URL                   PROVIDER  MODELS     PRIORITY  WEIGHT  TIMEOUT  "
            "CREDENTIAL          HEALTH\n"
            "openai  https://api.openai.com/v1  openai    gpt-4*,o1  0         3       30s      "
            "env:OPENAI_API_KEY  ejected 1/3,cooling 1/3\n"
            "local   http://127.0.0.1:11434/v1  openai    llama*     10        1       10m      "
            "key …abcd           ok\n"
            "bare    http://h                   azure     -          0         1       500ms    "
            "-                   -\n");
  EXPECT_EQ(upstreamTable({}),
            "NAME  BASE_URL  PROVIDER  MODELS  PRIORITY  WEIGHT  TIMEOUT  CREDENTIAL  HEALTH\n");
}

TEST(CliRenderTest, HealthCellNamesEachProblemOverTheReportingNodes) {
  // "-" without reporting nodes, "ok" when none sees a problem, else each problem with its
  // share of the reporting nodes, comma-separated in a fixed order.
  fwd::v1::Upstream u;
  EXPECT_EQ(healthCell(u), "-");
  u.mutable_health();  // a summary with no node reporting
  EXPECT_EQ(healthCell(u), "-");
  u.mutable_health()->set_nodes_reporting(3);
  u.mutable_health()->set_ejections(12);  // past ejections alone are no problem now
  EXPECT_EQ(healthCell(u), "ok");
  u.mutable_health()->set_nodes_unhealthy(2);
  EXPECT_EQ(healthCell(u), "unhealthy 2/3");
  u.mutable_health()->set_nodes_cooling(1);
  u.mutable_health()->set_nodes_ejected(3);
  EXPECT_EQ(healthCell(u), "ejected 3/3,unhealthy 2/3,cooling 1/3");
}

TEST(CliRenderTest, UpstreamJsonHasTheDocumentedShapeAndOrder) {
  // Golden JSON object: fixed key order, RFC 3339 times, credential object per kind, the
  // health summary (null when the server sent none).
  EXPECT_EQ(
      upstreamJson(envUpstream()).dump(),
      R"({"name":"openai","base_url":"https://api.openai.com/v1","provider":{"name":"openai"},)"
      R"("models":["gpt-4*","o1"],)"
      R"("deny_models":[],"priority":0,"weight":3,"timeout":"30s","connect_timeout":"10s",)"
      R"("first_byte_timeout":"30s","stream_first_byte_timeout":"30s","idle_timeout":null,)"
      R"("outlier_detection":{"enabled":true,"consecutive_failures":5,)"
      R"("base_ejection_time":"30s","max_ejection_time":"5m"},"health_check":null,)"
      R"("insecure_skip_verify":false,)"
      R"("edits":{"max_tokens_cap":null,"stop":[],"drop_empty_messages":null,"strip_think":null,"answer_prefix":null,"stream_mode":null},)"
      R"("credential":{"type":"env","env":"OPENAI_API_KEY"},"id":1,)"
      R"("created":"2026-11-22T10:00:00Z","updated":"2026-11-22T10:01:30Z",)"
      R"("health":{"nodes_reporting":3,"nodes_ejected":1,"nodes_unhealthy":0,)"
      R"("nodes_cooling":1,"ejections":4}})");
  EXPECT_TRUE(upstreamJson(bareUpstream())["health"].is_null());
  EXPECT_EQ(upstreamJson(keyUpstream())["health"]["nodes_reporting"], 2);
  EXPECT_EQ(upstreamJson(keyUpstream())["credential"].dump(),
            R"({"type":"api_key","hint":"…abcd"})");
  EXPECT_EQ(upstreamJson(keyUpstream())["timeout"], "10m");  // formatDuration(600s)
  EXPECT_EQ(upstreamJson(bareUpstream())["credential"].dump(), R"({"type":"none"})");
  EXPECT_EQ(upstreamJson(bareUpstream())["models"].dump(), "[]");
  EXPECT_TRUE(upstreamJson(bareUpstream())["created"].is_null());
}

TEST(CliRenderTest, AStoredKeyIsNeverPrinted) {
  // Should a server ever echo api_key, table and JSON show only its last four characters.
  fwd::v1::Upstream u = bareUpstream();
  u.set_api_key("sk-supersecret-wxyz");
  EXPECT_EQ(credentialCell(u), "key …wxyz");
  std::string json = upstreamJson(u).dump();
  EXPECT_EQ(json.find("supersecret"), std::string::npos) << json;
  EXPECT_EQ(upstreamDetail(u).find("supersecret"), std::string::npos);
}

TEST(CliRenderTest, UpstreamDetailListsEveryField) {
  // `upstream get` prints one aligned "field: value" line per field, the health summary last.
  EXPECT_EQ(upstreamDetail(keyUpstream()),
            "name:                       local\n"
            "base_url:                   http://127.0.0.1:11434/v1\n"
            "provider:                   openai\n"
            "models:                     llama*\n"
            "deny_models:                -\n"
            "priority:                   10\n"
            "weight:                     1\n"
            "timeout:                    10m\n"
            "connect_timeout:            10s (default)\n"
            "first_byte_timeout:         10m (default: timeout)\n"
            "stream_first_byte_timeout:  10m (default: first_byte_timeout)\n"
            "idle_timeout:               none (default)\n"
            "outlier_detection:          eject after 5 failures, for 30s, at most 5m (defaults)\n"
            "health_check:               off (default)\n"
            "insecure_skip_verify:       true\n"
            "edits:                      -\n"
            "credential:                 key …abcd\n"
            "id:                         2\n"
            "created:                    2026-11-22T10:00:00Z\n"
            "updated:                    2026-11-22T10:00:00Z\n"
            "health:                     ok\n"
            "nodes_reporting:            2\n"
            "ejections:                  7\n");
  std::string env = upstreamDetail(envUpstream());
  EXPECT_NE(env.find("\nhealth:                     ejected 1/3,cooling 1/3\n"
                     "nodes_reporting:            3\n"
                     "ejections:                  4\n"),
            std::string::npos)
      << env;
  std::string bare = upstreamDetail(bareUpstream());
  EXPECT_NE(bare.find("\nhealth:                     -\n"
                      "nodes_reporting:            0\n"
                      "ejections:                  -\n"),
            std::string::npos)
      << bare;
}

fwd::v1::Key key(const std::string& name, bool revoked) {
  fwd::v1::Key k;
  k.set_name(name);
  k.set_display_prefix("fwd-AbCd");
  k.set_secret_sha256(std::string(64, 'f'));
  k.mutable_create_time()->set_seconds(kCreated);
  if (revoked) {
    k.add_models("gpt-*");
    k.mutable_revoke_time()->set_seconds(kCreated + 3600);
  }
  return k;
}

TEST(CliRenderTest, KeyListingsShowPrefixNeverSecretOrHash) {
  // Golden key table and JSON: "*" for every model, revoked null or a time, no hash.
  EXPECT_EQ(keyTable({key("ci", false), key("old-bot", true)}),
            "NAME     PREFIX    MODELS  CREATED               REVOKED\n"
            "ci       fwd-AbCd  *       2026-11-22T10:00:00Z  -\n"
            "old-bot  fwd-AbCd  gpt-*   2026-11-22T10:00:00Z  2026-11-22T11:00:00Z\n");
  EXPECT_EQ(
      keyJson(key("ci", false)).dump(),
      R"({"name":"ci","display_prefix":"fwd-AbCd","models":[],"errors_as_200":false,"log_bodies":false,)"
      R"("allow_ips":[],"deny_ips":[],)"
      R"("limits":{"rate":null,"rate_strategy":null,"max_parallel":null,"tpm":null,)"
      R"("tokens":null,"budget_usd":null,"budget_tokens":null,"stream_pace":null,"redis_down":null},)"
      R"("created":"2026-11-22T10:00:00Z","updated":null,"revoked":null,)"
      R"("previous_secret_expires":null})");
  EXPECT_EQ(keyJson(key("old-bot", true))["revoked"], "2026-11-22T11:00:00Z");
}

TEST(CliRenderTest, CreatedKeyShowsTheSecretOnce) {
  // `key create` output holds the secret, prominently in table form with a warning.
  fwd::v1::CreateKeyResponse created;
  *created.mutable_key() = key("ci", false);
  created.mutable_key()->add_models("gpt-4o");
  created.set_secret("fwd-AbCdEfGh123");
  EXPECT_EQ(createdKeyJson(created).dump(),
            R"({"name":"ci","key":"fwd-AbCdEfGh123","display_prefix":"fwd-AbCd",)"
            R"("models":["gpt-4o"],"created":"2026-11-22T10:00:00Z",)"
            R"("previous_secret_expires":null})");
  EXPECT_EQ(createdKeyText(created),
            "key \"ci\" created\n"
            "\n"
            "    fwd-AbCdEfGh123\n"
            "\n"
            "Store this secret now: it will not be shown again.\n"
            "Clients send it as \"Authorization: Bearer <secret>\".\n");
}

fwd::v1::GetStatusResponse status() {
  fwd::v1::GetStatusResponse s;
  s.set_version(7);
  fwd::v1::DataPlaneStatus* a = s.add_dataplanes();
  a->set_node_id("dp-a");
  a->set_applied_version(7);
  a->set_connected(true);
  a->mutable_uptime()->set_seconds(120);
  a->mutable_uptime()->set_nanos(900'000'000);
  a->set_peer("ipv4:127.0.0.1:50000");
  a->set_build_version("0.1.0");
  a->mutable_last_seen()->set_seconds(kCreated);
  fwd::v1::UpstreamState* ejected = a->add_upstreams();
  ejected->set_name("openai");
  ejected->set_ejected(true);
  ejected->mutable_ejection_left()->set_seconds(12);
  ejected->mutable_ejection_left()->set_nanos(500'000'000);
  ejected->set_ejections(2);
  ejected->set_consecutive_failures(0);
  fwd::v1::UpstreamState* unhealthy = a->add_upstreams();
  unhealthy->set_name("azure");
  unhealthy->set_health(fwd::v1::UpstreamState::HEALTH_UNHEALTHY);
  unhealthy->set_consecutive_failures(3);
  fwd::v1::UpstreamState* cooling = a->add_upstreams();
  cooling->set_name("local");
  cooling->set_health(fwd::v1::UpstreamState::HEALTH_HEALTHY);
  cooling->mutable_cooling_left()->set_seconds(120);
  fwd::v1::DataPlaneStatus* b = s.add_dataplanes();
  b->set_node_id("dp-b");
  b->set_applied_version(6);
  b->set_connected(true);
  b->set_last_error("upstream \"x\": bad base_url\nsecond line");
  b->set_last_nack_version(7);
  b->mutable_uptime()->set_seconds(45);
  b->add_upstreams()->set_name("openai");
  fwd::v1::DataPlaneStatus* c = s.add_dataplanes();
  c->set_node_id("dp-gone");
  c->set_applied_version(7);
  c->set_connected(false);
  return s;
}

TEST(CliRenderTest, StatusTableMarksNodesOutOfSync) {
  // In sync means connected and at the current version; EJECTED and UNHEALTHY count the
  // node's reported upstreams ("-" without a report); a NACK shows its version and reason on
  // one line.
  EXPECT_EQ(statusText(status()),
            "config version 7\n"
            "NODE     APPLIED  IN_SYNC  CONNECTED  UPTIME  EJECTED  UNHEALTHY  LAST_ERROR\n"
            "dp-a     7        yes      yes        2m      1/3      1/3        -\n"
            "dp-b     6        no       yes        45s     0/1      0/1        v7: upstream \"x\": "
            "bad base_url second line\n"
            "dp-gone  7        no       no         0s      -        -          -\n");
  fwd::v1::GetStatusResponse empty;
  empty.set_version(3);
  EXPECT_EQ(statusText(empty), "config version 3\nno data planes have connected\n");
}

TEST(CliRenderTest, StatusJsonHasTheDocumentedShapeAndOrder) {
  // Golden status JSON, in_sync computed, last_seen null when unknown, each reported upstream
  // with countdowns rounded up to whole seconds (null when not running).
  Json json = statusJson(status());
  EXPECT_EQ(json["dataplanes"][0].dump(),
            R"({"node_id":"dp-a","applied_version":7,"connected":true,"in_sync":true,)"
            R"("last_error":"","last_nack_version":0,"uptime":"2m",)"
            R"("peer":"ipv4:127.0.0.1:50000","build_version":"0.1.0",)"
            R"("last_seen":"2026-11-22T10:00:00Z","upstreams":[)"
            R"({"name":"openai","ejected":true,"ejection_left":"13s","ejections":2,)"
            R"("consecutive_failures":0,"health":"unchecked","cooling_left":null},)"
            R"({"name":"azure","ejected":false,"ejection_left":null,"ejections":0,)"
            R"("consecutive_failures":3,"health":"unhealthy","cooling_left":null},)"
            R"({"name":"local","ejected":false,"ejection_left":null,"ejections":0,)"
            R"("consecutive_failures":0,"health":"healthy","cooling_left":"2m"}]})");
  EXPECT_EQ(json["dataplanes"][2]["upstreams"].dump(), "[]");
  EXPECT_EQ(json["version"], 7);
  EXPECT_EQ(json["dataplanes"][1]["in_sync"], false);
  EXPECT_EQ(json["dataplanes"][2]["in_sync"], false);
  EXPECT_TRUE(json["dataplanes"][2]["last_seen"].is_null());
  EXPECT_EQ(json.begin().key(), "version");
}

TEST(CliRenderTest, TimestampsAreRfc3339UtcSeconds) {
  // Fractions are dropped and the zone is always Z.
  google::protobuf::Timestamp ts;
  ts.set_seconds(kCreated);
  ts.set_nanos(999'000'000);
  EXPECT_EQ(formatTimestamp(ts), "2026-11-22T10:00:00Z");
  EXPECT_EQ(timestampCell(google::protobuf::Timestamp()), "-");
}

TEST(KeyCountsTest, CountdownsAndDollarsAreShortAndExact) {
  EXPECT_EQ(countdown(0), "0s");
  EXPECT_EQ(countdown(41'200), "42s");  // rounded up: never "0s" while something is left
  EXPECT_EQ(countdown(60'000), "1m");
  EXPECT_EQ(countdown(750'000), "12m30s");
  EXPECT_EQ(countdown(3'600'000), "1h");
  EXPECT_EQ(countdown(18'720'000), "5h12m");
  EXPECT_EQ(countdown(2'170'800'000), "25d3h");
  EXPECT_EQ(usdCell(10'000'000), "$10.00");
  EXPECT_EQ(usdCell(125), "$0.000125");
  EXPECT_EQ(usdCell(1'500'000), "$1.50");
  EXPECT_EQ(usdCell(0), "$0.00");
}

fwd::v1::KeyLimitsState countedState(const std::string& source) {
  fwd::v1::KeyLimitsState s;
  s.set_source(source);
  s.set_rate_strategy(fwd::v1::RATE_STRATEGY_SLIDING_WINDOW);
  fwd::v1::WindowState* r = s.add_requests();
  r->set_limit(60);
  r->mutable_window()->set_seconds(60);
  r->set_used(12);
  r->set_remaining(48);
  r->mutable_reset()->set_seconds(41);
  r->set_scope("key");
  fwd::v1::WindowState* t = s.add_tokens();
  t->set_limit(100000);
  t->mutable_window()->set_seconds(86400);
  t->set_used(5230);
  t->set_remaining(94770);
  t->set_scope("default");
  s.set_max_parallel(4);
  s.set_in_flight(1);
  fwd::v1::BudgetState* b = s.add_budgets();
  b->set_kind("usd");
  b->set_period(fwd::v1::BUDGET_PERIOD_MONTH);
  b->set_limit(10'000'000);
  b->set_spent(1'234'567);
  b->set_left(8'765'433);
  b->set_unpriced_tokens(300);
  b->mutable_reset()->set_seconds(90000);
  b->set_scope("key");
  return s;
}

TEST(KeyCountsTest, RedisCountsShowOnceForTheFleetAndMemoryCountsPerNode) {
  fwd::v1::GetKeyLimitsResponse redis;
  for (const char* node : {"dp-1", "dp-2"}) {
    fwd::v1::NodeKeyLimits* n = redis.add_nodes();
    n->set_node_id(node);
    *n->mutable_state() = countedState("redis");
  }
  fwd::v1::NodeKeyLimits* late = redis.add_nodes();
  late->set_node_id("dp-3");
  late->set_error("did not answer in time");
  EXPECT_EQ(keyCountsText(redis),
            "counts:         in Redis, for the fleet (read by 2 data planes)\n"
            "  requests 60/minute: 12 used, 48 left, resets in 41s\n"
            "  tokens 100000/day (default): 5230 used, 94770 left\n"
            "  in flight: 1 of 4\n"
            "  budget $10.00/month: $1.234567 spent, $8.765433 left, renews in 1d1h, 300 "
            "unpriced tokens\n"
            "  data plane \"dp-3\": did not answer in time\n");

  fwd::v1::GetKeyLimitsResponse memory;
  fwd::v1::NodeKeyLimits* n = memory.add_nodes();
  n->set_node_id("dp-1");
  *n->mutable_state() = countedState("memory");
  n->mutable_state()->set_redis_error("not connected to Redis");
  n->mutable_state()->clear_budgets();
  n->mutable_state()->clear_tokens();
  EXPECT_EQ(keyCountsText(memory),
            "counts on \"dp-1\": this data plane's memory (Redis unreachable: not connected to "
            "Redis)\n"
            "  requests 60/minute: 12 used, 48 left, resets in 41s\n"
            "  in flight: 1 of 4\n");
  Json j = keyCountsJson(memory);
  EXPECT_EQ(j.dump(),
            R"({"nodes":[{"node_id":"dp-1","error":null,"state":{"source":"memory",)"
            R"("redis_error":"not connected to Redis","read_at":null,"requests":[{"limit":60,)"
            R"("window_ms":60000,"used":12,"remaining":48,"reset_ms":41000,"scope":"key"}],)"
            R"("rate_strategy":"sliding-window","tokens":[],"in_flight":1,"max_parallel":4,)"
            R"("budgets":[]}}]})");

  // No data plane, a control plane too old to ask them, a key without limits.
  EXPECT_EQ(keyCountsText(fwd::v1::GetKeyLimitsResponse()),
            "counts:         no data plane is connected\n");
  EXPECT_EQ(keyCountsText(absl::UnimplementedError("unknown method GetKeyLimits")),
            "counts:         unavailable: unknown method GetKeyLimits\n");
  EXPECT_EQ(keyCountsJson(absl::UnimplementedError("x")).dump(), R"({"error":"x"})");
  fwd::v1::GetKeyLimitsResponse unlimited;
  unlimited.add_nodes()->mutable_state()->set_unlimited(true);
  EXPECT_EQ(keyCountsText(unlimited), "");
}

}  // namespace
}  // namespace fwd::cli::commands
