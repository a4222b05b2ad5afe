// `fwdctl upstream ...` for the deny list, fine timeouts, outlier ejection and health checks:
// flags into CreateUpstream/UpdateUpstream requests and FieldMasks, usage errors, golden detail
// and JSON output, and whole command lines against the fake server over gRPC.
#include "cli/commands/upstream.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/commands/edits.h"
#include "cli/commands/parser.h"
#include "cli/commands/run.h"
#include "common/config/stream_mode.h"
#include "tests/unit/cli/cli_test_util.h"
#include "tests/unit/cli/fake_admin_service.h"

namespace fwd::cli::commands {
namespace upstream_test {

using testing::with;

using ::testing::ElementsAre;
using ::testing::IsEmpty;

Invocation parseOk(const std::vector<std::string>& args) {
  static const std::vector<CommandSpec> commands = allCommands();
  auto parsed = parseCommandLine(args, commands);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() ? parsed->invocation : Invocation();
}

fwd::v1::UpdateUpstreamRequest updateOf(const std::vector<std::string>& flags) {
  std::vector<std::string> args = {"upstream", "update", "a"};
  args.insert(args.end(), flags.begin(), flags.end());
  auto request = buildUpdateUpstreamRequest(parseOk(args));
  EXPECT_TRUE(request.ok()) << request.status();
  return request.ok() ? *request : fwd::v1::UpdateUpstreamRequest();
}

std::vector<std::string> maskOf(const std::vector<std::string>& flags) {
  fwd::v1::UpdateUpstreamRequest request = updateOf(flags);
  return {request.update_mask().paths().begin(), request.update_mask().paths().end()};
}

TEST(CliUpstreamTest, AddBuildsEveryNewField) {
  // Each new flag lands in its field; --allow-model joins --model; a health flag enables the
  // check with only that field set.
  auto request = buildCreateUpstreamRequest(parseOk({"upstream",
                                                     "add",
                                                     "vllm",
                                                     "--base-url",
                                                     "http://h/v1",
                                                     "--model",
                                                     "llama*",
                                                     "--allow-model",
                                                     "qwen*",
                                                     "--deny-model",
                                                     "llama-guard*",
                                                     "--deny-model",
                                                     "*-base",
                                                     "--connect-timeout",
                                                     "2s",
                                                     "--first-byte-timeout",
                                                     "1m",
                                                     "--stream-first-byte-timeout",
                                                     "10s",
                                                     "--idle-timeout",
                                                     "1500ms",
                                                     "--eject-after",
                                                     "3",
                                                     "--eject-time",
                                                     "45s",
                                                     "--max-eject-time",
                                                     "10m",
                                                     "--health-check-path",
                                                     "/health",
                                                     "--health-check-interval",
                                                     "5s",
                                                     "--health-check-timeout",
                                                     "2s",
                                                     "--unhealthy-threshold",
                                                     "4",
                                                     "--healthy-threshold",
                                                     "1"}));
  ASSERT_TRUE(request.ok()) << request.status();
  const fwd::v1::Upstream& u = request->upstream();
  EXPECT_THAT(u.models(), ElementsAre("llama*", "qwen*"));
  EXPECT_THAT(u.deny_models(), ElementsAre("llama-guard*", "*-base"));
  EXPECT_EQ(u.connect_timeout().seconds(), 2);
  EXPECT_EQ(u.first_byte_timeout().seconds(), 60);
  EXPECT_EQ(u.stream_first_byte_timeout().seconds(), 10);
  EXPECT_EQ(u.idle_timeout().seconds(), 1);
  EXPECT_EQ(u.idle_timeout().nanos(), 500'000'000);
  EXPECT_FALSE(u.outlier_detection().disabled());
  EXPECT_EQ(u.outlier_detection().consecutive_failures(), 3u);
  EXPECT_EQ(u.outlier_detection().base_ejection_time().seconds(), 45);
  EXPECT_EQ(u.outlier_detection().max_ejection_time().seconds(), 600);
  EXPECT_EQ(u.health_check().path(), "/health");
  EXPECT_EQ(u.health_check().interval().seconds(), 5);
  EXPECT_EQ(u.health_check().timeout().seconds(), 2);
  EXPECT_EQ(u.health_check().unhealthy_threshold(), 4u);
  EXPECT_EQ(u.health_check().healthy_threshold(), 1u);

  auto plain = buildCreateUpstreamRequest(parseOk({"upstream", "add", "p", "--base-url", "u"}));
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->upstream().has_connect_timeout());
  EXPECT_FALSE(plain->upstream().has_outlier_detection());
  EXPECT_FALSE(plain->upstream().has_health_check());

  auto defaults = buildCreateUpstreamRequest(
      parseOk({"upstream", "add", "d", "--base-url", "u", "--health-check", "--eject-after", "0"}));
  ASSERT_TRUE(defaults.ok());
  EXPECT_TRUE(defaults->upstream().has_health_check());
  EXPECT_EQ(defaults->upstream().health_check().ByteSizeLong(), 0u);
  EXPECT_TRUE(defaults->upstream().outlier_detection().disabled());

  auto path_only = buildCreateUpstreamRequest(
      parseOk({"upstream", "add", "h", "--base-url", "u", "--health-check-path", "/ping"}));
  ASSERT_TRUE(path_only.ok());
  EXPECT_EQ(path_only->upstream().health_check().path(), "/ping");
  EXPECT_FALSE(path_only->upstream().health_check().has_interval());
}

TEST(CliUpstreamTest, UpdateMasksNameOnlyWhatTheFlagsChange) {
  // Field flags map to one path each (so an update keeps the rest of the message);
  // --health-check replaces the whole check, --no-health-check removes it.
  EXPECT_THAT(maskOf({"--idle-timeout", "5s", "--deny-model", "x", "--connect-timeout", "1s"}),
              ElementsAre("deny_models", "connect_timeout", "idle_timeout"));
  EXPECT_THAT(maskOf({"--first-byte-timeout", "30s", "--stream-first-byte-timeout", "5s"}),
              ElementsAre("first_byte_timeout", "stream_first_byte_timeout"));
  EXPECT_THAT(maskOf({"--allow-model", "a", "--model", "b"}), ElementsAre("models"));
  EXPECT_THAT(updateOf({"--allow-model", "a", "--model", "b"}).upstream().models(),
              ElementsAre("b", "a"));

  fwd::v1::UpdateUpstreamRequest clear_deny = updateOf({"--clear-deny-models"});
  EXPECT_THAT(clear_deny.update_mask().paths(), ElementsAre("deny_models"));
  EXPECT_THAT(clear_deny.upstream().deny_models(), IsEmpty());

  fwd::v1::UpdateUpstreamRequest never = updateOf({"--eject-after", "0"});
  EXPECT_THAT(never.update_mask().paths(),
              ElementsAre("outlier_detection.disabled", "outlier_detection.consecutive_failures"));
  EXPECT_TRUE(never.upstream().outlier_detection().disabled());
  fwd::v1::UpdateUpstreamRequest five = updateOf({"--eject-after", "5"});
  EXPECT_FALSE(five.upstream().outlier_detection().disabled());
  EXPECT_EQ(five.upstream().outlier_detection().consecutive_failures(), 5u);
  EXPECT_THAT(
      maskOf({"--max-eject-time", "5m", "--eject-time", "1m"}),
      ElementsAre("outlier_detection.base_ejection_time", "outlier_detection.max_ejection_time"));

  EXPECT_THAT(maskOf({"--healthy-threshold", "3", "--health-check-path", "/h"}),
              ElementsAre("health_check.path", "health_check.healthy_threshold"));
  EXPECT_THAT(maskOf({"--health-check-timeout", "1s", "--health-check-interval", "9s",
                      "--unhealthy-threshold", "2"}),
              ElementsAre("health_check.interval", "health_check.timeout",
                          "health_check.unhealthy_threshold"));
  fwd::v1::UpdateUpstreamRequest whole =
      updateOf({"--health-check", "--health-check-interval", "30s"});
  EXPECT_THAT(whole.update_mask().paths(), ElementsAre("health_check"));
  EXPECT_EQ(whole.upstream().health_check().interval().seconds(), 30);
  EXPECT_TRUE(updateOf({"--health-check"}).upstream().has_health_check());
  for (const char* off : {"--no-health-check", "--health-check=false"}) {
    fwd::v1::UpdateUpstreamRequest removed = updateOf({off});
    EXPECT_THAT(removed.update_mask().paths(), ElementsAre("health_check")) << off;
    EXPECT_FALSE(removed.upstream().has_health_check()) << off;
  }
}

TEST(CliUpstreamTest, MalformedNewFlagsAreUsageErrors) {
  // Each mistake exits 2 before any connection, with one line naming the flag.
  struct Case {
    std::vector<std::string> args;
    std::string err;
  };
  const std::vector<std::string> add = {"upstream", "add", "a", "--base-url", "http://h"};
  const std::vector<std::string> update = {"upstream", "update", "a"};
  auto with = [](std::vector<std::string> base, std::vector<std::string> more) {
    base.insert(base.end(), more.begin(), more.end());
    return base;
  };
  const Case cases[] = {
      {with(add, {"--connect-timeout", "0s"}), "--connect-timeout must be positive"},
      {with(add, {"--idle-timeout", "5"}),
       "--idle-timeout: invalid duration \"5\": missing unit (write e.g. 500ms, 30s, 2m, 1h, "
       "1m30s)"},
      {with(add, {"--first-byte-timeout", "soon"}),
       "--first-byte-timeout: invalid duration \"soon\": expected a number (write e.g. 500ms, "
       "30s, 2m, 1h, 1m30s)"},
      {with(add, {"--stream-first-byte-timeout", "0ms"}),
       "--stream-first-byte-timeout must be positive"},
      {with(add, {"--eject-after", "-1"}),
       "invalid value \"-1\" for --eject-after: expected a non-negative integer"},
      {with(add, {"--eject-time", "0s"}), "--eject-time must be positive"},
      {with(add, {"--max-eject-time", "1x"}),
       "--max-eject-time: invalid duration \"1x\": unknown unit \"x\" (write e.g. 500ms, 30s, "
       "2m, 1h, 1m30s)"},
      {with(add, {"--health-check-interval", "0s"}), "--health-check-interval must be positive"},
      {with(add, {"--health-check-timeout", "0s"}), "--health-check-timeout must be positive"},
      {with(add, {"--healthy-threshold", "0"}), "--healthy-threshold must be at least 1"},
      {with(add, {"--unhealthy-threshold", "many"}),
       "invalid value \"many\" for --unhealthy-threshold: expected a non-negative integer"},
      {with(add, {"--health-check-path", ""}), "--health-check-path is empty"},
      {with(add, {"--deny-model", ""}), "--deny-model is empty"},
      {with(add, {"--allow-model", ""}), "--allow-model is empty"},
      {with(add, {"--health-check=false", "--health-check-path", "/h"}),
       "--health-check=false and --health-check-path cannot be used together"},
      {with(add, {"--no-health-check"}),
       "unknown flag --no-health-check for \"upstream add\" (see fwdctl upstream --help)"},
      {with(add, {"--clear-deny-models"}),
       "unknown flag --clear-deny-models for \"upstream add\" (see fwdctl upstream --help)"},
      {with(update, {"--no-health-check", "--healthy-threshold", "2"}),
       "--no-health-check and --healthy-threshold cannot be used together"},
      {with(update, {"--no-health-check", "--health-check"}),
       "--no-health-check and --health-check cannot be used together"},
      {with(update, {"--clear-deny-models", "--deny-model", "x"}),
       "--clear-deny-models and --deny-model cannot be used together"},
      {with(update, {"--clear-models", "--allow-model", "x"}),
       "--clear-models and --allow-model cannot be used together"},
      {with(update, {"--eject-after", "1", "--eject-after", "2"}),
       "flag --eject-after given more than once"},
      {update,
       "nothing to update: pass at least one field flag, e.g. --timeout 30s (see fwdctl upstream "
       "--help)"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = c.args;
    args.push_back("--token=t");
    testing::CliResult result = testing::runCli(args);
    EXPECT_EQ(result.exit_code, kExitUsage) << c.err;
    EXPECT_EQ(result.err, "fwdctl: " + c.err + "\n");
    EXPECT_EQ(result.out, "");
  }
}

fwd::v1::Upstream plainUpstream() {
  fwd::v1::Upstream u;
  u.set_name("plain");
  u.set_base_url("http://h/v1");
  u.set_weight(1);
  u.mutable_timeout()->set_seconds(600);
  u.set_id(1);
  return u;
}

fwd::v1::Upstream tunedUpstream() {
  fwd::v1::Upstream u = plainUpstream();
  u.set_name("tuned");
  u.add_models("llama*");
  u.add_deny_models("llama-guard*");
  u.add_deny_models("*-base");
  u.mutable_timeout()->set_seconds(120);
  u.mutable_connect_timeout()->set_seconds(2);
  u.mutable_first_byte_timeout()->set_seconds(90);
  u.mutable_idle_timeout()->set_nanos(500'000'000);
  u.mutable_outlier_detection()->set_consecutive_failures(3);
  u.mutable_outlier_detection()->mutable_max_ejection_time()->set_seconds(600);
  u.mutable_health_check()->set_path("/health");
  u.mutable_health_check()->mutable_interval()->set_seconds(5);
  u.mutable_health_check()->set_healthy_threshold(1);
  return u;
}

TEST(CliUpstreamTest, DetailShowsNewSettingsAndMarksDefaults) {
  // `upstream get` shows every new setting: given values plain, defaults marked, and what an
  // unset timeout follows.
  EXPECT_EQ(upstreamDetail(plainUpstream()),
            "name:                       plain\n"
            "base_url:                   http://h/v1\n"
            "provider:                   openai\n"
            "models:                     -\n"
            "deny_models:                -\n"
            "priority:                   0\n"
            "weight:                     1\n"
            "timeout:                    10m\n"
            "connect_timeout:            10s (default)\n"
            "first_byte_timeout:         10m (default: timeout)\n"
            "stream_first_byte_timeout:  10m (default: first_byte_timeout)\n"
            "idle_timeout:               none (default)\n"
            "outlier_detection:          eject after 5 failures, for 30s, at most 5m (defaults)\n"
            "health_check:               off (default)\n"
            "insecure_skip_verify:       false\n"
            "edits:                      -\n"
            "credential:                 -\n"
            "id:                         1\n"
            "created:                    -\n"
            "updated:                    -\n"
            "health:                     -\n"
            "nodes_reporting:            0\n"
            "ejections:                  -\n");
  EXPECT_EQ(upstreamDetail(tunedUpstream()),
            "name:                       tuned\n"
            "base_url:                   http://h/v1\n"
            "provider:                   openai\n"
            "models:                     llama*\n"
            "deny_models:                llama-guard*,*-base\n"
            "priority:                   0\n"
            "weight:                     1\n"
            "timeout:                    2m\n"
            "connect_timeout:            2s\n"
            "first_byte_timeout:         90s\n"
            "stream_first_byte_timeout:  90s (default: first_byte_timeout)\n"
            "idle_timeout:               500ms\n"
            "outlier_detection:          eject after 3 failures, for 30s (default), at most 10m\n"
            "health_check:               GET /health, every 5s, timeout 5s (default), out "
            "after 3 failures (default), back after 1 success\n"
            "insecure_skip_verify:       false\n"
            "edits:                      -\n"
            "credential:                 -\n"
            "id:                         1\n"
            "created:                    -\n"
            "updated:                    -\n"
            "health:                     -\n"
            "nodes_reporting:            0\n"
            "ejections:                  -\n");
  fwd::v1::Upstream off = plainUpstream();
  off.mutable_outlier_detection()->set_disabled(true);
  off.mutable_health_check();
  std::string detail = upstreamDetail(off);
  EXPECT_THAT(detail, ::testing::HasSubstr("outlier_detection:          never eject (disabled)\n"));
  EXPECT_THAT(detail, ::testing::HasSubstr(
                          "health_check:               GET /models, every 10s, timeout "
                          "5s, out after 3 failures, back after 2 successes (defaults)\n"));
}

TEST(CliUpstreamTest, JsonCarriesEffectiveValuesInAFixedOrder) {
  // -o json: new keys in fixed order with effective values; idle_timeout and health_check are
  // null when off.
  EXPECT_EQ(
      upstreamJson(plainUpstream()).dump(),
      R"({"name":"plain","base_url":"http://h/v1","provider":{"name":"openai"},"models":[],)"
      R"("deny_models":[],"priority":0,)"
      R"("weight":1,"timeout":"10m","connect_timeout":"10s","first_byte_timeout":"10m",)"
      R"("stream_first_byte_timeout":"10m","idle_timeout":null,)"
      R"("outlier_detection":{"enabled":true,"consecutive_failures":5,)"
      R"("base_ejection_time":"30s","max_ejection_time":"5m"},"health_check":null,)"
      R"("insecure_skip_verify":false,"edits":{"max_tokens_cap":null,"stop":[],"drop_empty_messages":null,"strip_think":null,"answer_prefix":null,"stream_mode":null},"credential":{"type":"none"},"id":1,"created":null,)"
      R"("updated":null,"health":null})");
  Json tuned = upstreamJson(tunedUpstream());
  EXPECT_EQ(tuned["deny_models"].dump(), R"(["llama-guard*","*-base"])");
  EXPECT_EQ(tuned["connect_timeout"], "2s");
  EXPECT_EQ(tuned["first_byte_timeout"], "90s");
  EXPECT_EQ(tuned["stream_first_byte_timeout"], "90s");
  EXPECT_EQ(tuned["idle_timeout"], "500ms");
  EXPECT_EQ(tuned["outlier_detection"].dump(),
            R"({"enabled":true,"consecutive_failures":3,"base_ejection_time":"30s",)"
            R"("max_ejection_time":"10m"})");
  EXPECT_EQ(tuned["health_check"].dump(),
            R"({"path":"/health","interval":"5s","timeout":"5s","unhealthy_threshold":3,)"
            R"("healthy_threshold":1})");
  fwd::v1::Upstream off = plainUpstream();
  off.mutable_outlier_detection()->set_disabled(true);
  EXPECT_EQ(upstreamJson(off)["outlier_detection"]["enabled"], false);
}

class CliUpstreamEndToEndTest : public ::testing::Test {
 protected:
  testing::CliResult fwdctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", server_.address()});
    testing::CliSetup setup;
    setup.connect = client::connectAdmin;
    setup.token_env = "adm-secret";
    return testing::runCli(args, setup);
  }

  testing::FakeAdminServer server_;
  testing::FakeAdminService& fake_ = server_.service();
};

TEST_F(CliUpstreamEndToEndTest, NewFlagsReachTheServerAndComeBackRendered) {
  // add/update with the new flags send them over gRPC; get renders what the server returned.
  testing::FakeAdminService::Responses responses;
  responses.upstream = tunedUpstream();
  fake_.setResponses(responses);

  testing::CliResult added = fwdctl({"upstream", "add", "tuned", "--base-url", "http://h/v1",
                                     "--deny-model", "llama-guard*", "--first-byte-timeout", "90s",
                                     "--eject-after", "3", "--health-check", "-o", "json"});
  ASSERT_EQ(added.exit_code, kExitOk) << added.err;
  EXPECT_EQ(fake_.lastMethod(), "CreateUpstream");
  auto create = fake_.lastRequest<fwd::v1::CreateUpstreamRequest>();
  EXPECT_THAT(create.upstream().deny_models(), ElementsAre("llama-guard*"));
  EXPECT_EQ(create.upstream().first_byte_timeout().seconds(), 90);
  EXPECT_EQ(create.upstream().outlier_detection().consecutive_failures(), 3u);
  EXPECT_TRUE(create.upstream().has_health_check());
  auto json = nlohmann::json::parse(added.out);
  EXPECT_EQ(json["health_check"]["path"], "/health");
  EXPECT_EQ(json["outlier_detection"]["consecutive_failures"], 3);

  testing::CliResult updated = fwdctl({"upstream", "update", "tuned", "--eject-after", "0",
                                       "--no-health-check", "--idle-timeout", "20s"});
  ASSERT_EQ(updated.exit_code, kExitOk) << updated.err;
  EXPECT_EQ(updated.out, "upstream \"tuned\" updated\n");
  auto update = fake_.lastRequest<fwd::v1::UpdateUpstreamRequest>();
  EXPECT_THAT(update.update_mask().paths(),
              ElementsAre("idle_timeout", "outlier_detection.disabled",
                          "outlier_detection.consecutive_failures", "health_check"));
  EXPECT_TRUE(update.upstream().outlier_detection().disabled());
  EXPECT_FALSE(update.upstream().has_health_check());
  EXPECT_EQ(update.upstream().idle_timeout().seconds(), 20);

  testing::CliResult got = fwdctl({"upstream", "get", "tuned"});
  ASSERT_EQ(got.exit_code, kExitOk) << got.err;
  EXPECT_EQ(got.out, upstreamDetail(tunedUpstream()));
}

}  // namespace upstream_test
}  // namespace fwd::cli::commands

namespace fwd::cli::commands {
namespace upstream_test {

TEST(CliEditsTest, EditFlagsSetTheirFieldsAndNameTheirPaths) {
  fwd::v1::UpdateUpstreamRequest set = updateOf(
      {"--max-tokens-cap", "512", "--stop", "END", "--stop", "STOP", "--drop-empty-messages",
       "--strip-think=false", "--answer-prefix", "> ", "--stream-mode", "non-stream"});
  EXPECT_THAT(set.update_mask().paths(),
              ElementsAre("edits.max_tokens_cap", "edits.stop", "edits.drop_empty_messages",
                          "edits.strip_think", "edits.answer_prefix", "edits.stream_mode"));
  const fwd::v1::Edits& e = set.upstream().edits();
  EXPECT_EQ(e.max_tokens_cap(), 512u);
  EXPECT_THAT(e.stop(), ElementsAre("END", "STOP"));
  EXPECT_TRUE(e.drop_empty_messages());
  ASSERT_TRUE(e.has_strip_think());
  EXPECT_FALSE(e.strip_think());
  EXPECT_EQ(e.answer_prefix(), "> ");
  EXPECT_EQ(e.stream_mode(), fwd::v1::STREAM_MODE_NON_STREAM);

  fwd::v1::UpdateUpstreamRequest clear =
      updateOf({"--clear-stop", "--clear-answer-prefix", "--clear-stream-mode"});
  EXPECT_THAT(clear.update_mask().paths(),
              ElementsAre("edits.stop", "edits.answer_prefix", "edits.stream_mode"));
  EXPECT_EQ(clear.upstream().edits().stop_size(), 0);
  EXPECT_FALSE(clear.upstream().edits().has_answer_prefix());
  EXPECT_FALSE(clear.upstream().edits().has_stream_mode());

  EXPECT_EQ(editsCell(e),
            "max_tokens_cap 512, stop [\"END\",\"STOP\"], drop_empty_messages, strip_think off, "
            "answer_prefix \"> \", stream_mode non-stream");
  EXPECT_EQ(editsCell(fwd::v1::Edits()), "-");
  EXPECT_EQ(editsJson(e).dump(),
            R"({"max_tokens_cap":512,"stop":["END","STOP"],"drop_empty_messages":true,)"
            R"("strip_think":false,"answer_prefix":"> ","stream_mode":"non-stream"})");
  for (const char* mode : {"passthrough", "stream"}) {
    EXPECT_EQ(common::config::streamModeName(
                  updateOf({"--stream-mode", mode}).upstream().edits().stream_mode()),
              mode);
  }
}

TEST(CliEditsTest, MalformedEditFlagsAreUsageErrors) {
  const std::vector<std::string> add = {"upstream", "add", "a", "--base-url", "http://h"};
  const std::vector<std::string> update = {"route", "update", "r"};

  testing::expectUsageErrors({
      {with(add, {"--max-tokens-cap", "0"}),
       "--max-tokens-cap must be at least 1 (to remove a cap, use --clear-max-tokens-cap)"},
      {with(add, {"--max-tokens-cap", "x"}),
       "invalid value \"x\" for --max-tokens-cap: expected a non-negative integer"},
      {with(add, {"--stop", ""}), "--stop is empty"},
      {with(add, {"--clear-stop"}),
       "unknown flag --clear-stop for \"upstream add\" (see fwdctl upstream --help)"},
      {with(update, {"--clear-stop", "--stop", "x"}),
       "--clear-stop and --stop cannot be used together"},
      {with(add, {"--stream-mode", "always"}),
       "--stream-mode must be passthrough, stream or non-stream, got \"always\""},
      {with(update, {"--clear-stream-mode", "--stream-mode", "stream"}),
       "--clear-stream-mode and --stream-mode cannot be used together"},
  });
}

TEST(CliProviderTest, ProviderFlagsSetTheirFieldsAndNameTheirPaths) {
  auto add = buildCreateUpstreamRequest(
      parseOk({"upstream", "add", "az", "--base-url", "https://res.openai.azure.com", "--provider",
               "azure", "--azure-deployment", "gpt-4o=gpt4o-prod", "--azure-deployment",
               "/v1/audio/transcriptions=whisper", "--azure-api-version", "2024-10-21"}));
  ASSERT_TRUE(add.ok()) << add.status();
  const fwd::v1::Upstream& u = add->upstream();
  EXPECT_EQ(u.provider(), fwd::v1::PROVIDER_AZURE);
  EXPECT_EQ(u.azure().api_version(), "2024-10-21");
  EXPECT_EQ(u.azure().deployments().at("gpt-4o"), "gpt4o-prod");
  EXPECT_EQ(u.azure().deployments().at("/v1/audio/transcriptions"), "whisper");

  EXPECT_THAT(maskOf({"--azure-api-version", "preview", "--azure-deployment", "a=b"}),
              ElementsAre("azure.deployments", "azure.api_version"));
  EXPECT_THAT(maskOf({"--provider", "openai", "--timeout", "30s"}),
              ElementsAre("timeout", "provider", "azure", "replicate"));
  fwd::v1::UpdateUpstreamRequest ds = updateOf({"--provider", "dashscope"});
  EXPECT_EQ(ds.upstream().provider(), fwd::v1::PROVIDER_DASHSCOPE);
  EXPECT_THAT(ds.update_mask().paths(), ElementsAre("provider", "azure", "replicate"));
  fwd::v1::UpdateUpstreamRequest rep =
      updateOf({"--provider", "replicate", "--prompt-template", "*=llama3", "--prompt-template",
                "mistralai/mistral-7b-instruct-v0.2=mistral"});
  EXPECT_EQ(rep.upstream().provider(), fwd::v1::PROVIDER_REPLICATE);
  EXPECT_THAT(rep.update_mask().paths(),
              ElementsAre("provider", "azure", "replicate.prompt_templates"));
  EXPECT_EQ(rep.upstream().replicate().prompt_templates().at("*"), "llama3");
  fwd::v1::UpdateUpstreamRequest clear_templates = updateOf({"--clear-prompt-templates"});
  EXPECT_THAT(clear_templates.update_mask().paths(), ElementsAre("replicate.prompt_templates"));
  EXPECT_TRUE(clear_templates.upstream().replicate().prompt_templates().empty());
  fwd::v1::Upstream replicate = rep.upstream();
  EXPECT_EQ(upstreamJson(replicate)["provider"].dump(),
            R"({"name":"replicate","prompt_templates":{"*":"llama3",)"
            R"("mistralai/mistral-7b-instruct-v0.2":"mistral"}})");
  std::string replicate_detail = upstreamDetail(replicate);
  EXPECT_NE(replicate_detail.find("provider:                   replicate\n"
                                  "prompt_templates:           *=llama3, "
                                  "mistralai/mistral-7b-instruct-v0.2=mistral\n"),
            std::string::npos)
      << replicate_detail;
  fwd::v1::UpdateUpstreamRequest clear = updateOf({"--clear-azure-deployments"});
  EXPECT_THAT(clear.update_mask().paths(), ElementsAre("azure.deployments"));
  EXPECT_TRUE(clear.upstream().azure().deployments().empty());

  fwd::v1::Upstream shown = u;
  shown.set_id(3);
  EXPECT_EQ(upstreamJson(shown)["provider"].dump(),
            R"({"name":"azure","api_version":"2024-10-21",)"
            R"("deployments":{"/v1/audio/transcriptions":"whisper","gpt-4o":"gpt4o-prod"}})");
  std::string detail = upstreamDetail(shown);
  EXPECT_NE(detail.find("provider:                   azure (api-version 2024-10-21)\n"
                        "azure_deployments:          /v1/audio/transcriptions=whisper, "
                        "gpt-4o=gpt4o-prod\n"),
            std::string::npos)
      << detail;
}

TEST(CliProviderTest, MalformedProviderFlagsAreUsageErrors) {
  const std::vector<std::string> add = {"upstream", "add", "a", "--base-url", "http://h"};
  const std::vector<std::string> update = {"upstream", "update", "a"};
  testing::expectUsageErrors({
      {with(add, {"--provider", "anthropic"}),
       "--provider must be openai, azure, dashscope or replicate, got \"anthropic\""},
      {with(add, {"--provider", "openai", "--prompt-template", "*=plain"}),
       "--prompt-template needs --provider replicate"},
      {with(add, {"--provider", "replicate", "--prompt-template", "*=vicuna"}),
       "--prompt-template *=vicuna: the template must be mistral, llama2, llama3, chatml or "
       "plain"},
      {with(add, {"--provider", "replicate", "--prompt-template", "llama3"}),
       "--prompt-template wants MODEL=TEMPLATE, got \"llama3\""},
      {with(update, {"--clear-prompt-templates", "--prompt-template", "*=plain"}),
       "--clear-prompt-templates and --prompt-template cannot be used together"},
      {with(add, {"--provider", "azure", "--azure-deployment", "gpt-4o"}),
       "--azure-deployment wants MODEL=DEPLOYMENT, got \"gpt-4o\""},
      {with(add, {"--provider", "azure", "--azure-deployment", "=x"}),
       "--azure-deployment wants MODEL=DEPLOYMENT, got \"=x\""},
      {with(add, {"--provider", "azure", "--azure-deployment", "a=x", "--azure-deployment", "a=y"}),
       "--azure-deployment names model \"a\" twice"},
      {with(add, {"--provider", "openai", "--azure-api-version", "2024-10-21"}),
       "--azure-deployment and --azure-api-version need --provider azure"},
      {with(add, {"--clear-azure-deployments"}),
       "unknown flag --clear-azure-deployments for \"upstream add\" (see fwdctl upstream --help)"},
      {with(update, {"--clear-azure-deployments", "--azure-deployment", "a=b"}),
       "--clear-azure-deployments and --azure-deployment cannot be used together"},
      {with(update, {"--azure-api-version", ""}), "--azure-api-version is empty"},
  });
}

}  // namespace upstream_test
}  // namespace fwd::cli::commands
