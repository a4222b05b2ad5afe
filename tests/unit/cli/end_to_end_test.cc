// Whole command lines through the real gRPC client against the in-process fake AdminService:
// what reached the server (method, request, authorization metadata) and what fwdctl printed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/commands/run.h"
#include "tests/unit/cli/cli_test_util.h"
#include "tests/unit/cli/fake_admin_service.h"

namespace fwd::cli::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

FakeAdminService::Responses failing(grpc::StatusCode code, const std::string& message) {
  FakeAdminService::Responses responses;
  responses.error = grpc::Status(code, message);
  return responses;
}

class CliEndToEndTest : public ::testing::Test {
 protected:
  CliResult fwdctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", server_.address()});
    CliSetup setup;
    setup.connect = client::connectAdmin;
    setup.token_env = "adm-secret";
    return runCli(args, setup);
  }

  FakeAdminServer server_;
  FakeAdminService& fake_ = server_.service();
};

TEST_F(CliEndToEndTest, UpstreamAddSendsRequestAndTokenAndPrintsJson) {
  // CreateUpstream receives every flag and "Bearer <token>"; -o json prints the server's answer.
  FakeAdminService::Responses responses;
  responses.upstream.set_name("local");
  responses.upstream.set_base_url("http://127.0.0.1:11434/v1");
  responses.upstream.set_api_key_hint("…9xyz");
  responses.upstream.add_models("llama*");
  responses.upstream.set_weight(1);
  responses.upstream.mutable_timeout()->set_seconds(600);
  responses.upstream.set_id(5);
  responses.upstream.mutable_create_time()->set_seconds(1795341600);
  responses.upstream.mutable_update_time()->set_seconds(1795341600);
  fake_.setResponses(responses);

  CliResult result =
      fwdctl({"upstream", "add", "local", "--base-url", "http://127.0.0.1:11434/v1", "--api-key",
              "sk-abc9xyz", "--model", "llama*", "--priority", "5", "-o", "json"});
  ASSERT_EQ(result.exit_code, commands::kExitOk) << result.err;
  EXPECT_EQ(fake_.lastMethod(), "CreateUpstream");
  EXPECT_EQ(fake_.lastAuthorization(), "Bearer adm-secret");
  auto request = fake_.lastRequest<fwd::v1::CreateUpstreamRequest>();
  EXPECT_EQ(request.upstream().name(), "local");
  EXPECT_EQ(request.upstream().base_url(), "http://127.0.0.1:11434/v1");
  EXPECT_EQ(request.upstream().api_key(), "sk-abc9xyz");
  EXPECT_THAT(request.upstream().models(), ElementsAre("llama*"));
  EXPECT_EQ(request.upstream().priority(), 5);
  EXPECT_FALSE(request.upstream().has_timeout());

  auto json = nlohmann::json::parse(result.out);
  EXPECT_EQ(json["name"], "local");
  EXPECT_EQ(json["credential"]["type"], "api_key");
  EXPECT_EQ(json["credential"]["hint"], "…9xyz");
  EXPECT_EQ(json["timeout"], "10m");
  EXPECT_EQ(json["created"], "2026-11-22T10:00:00Z");
  EXPECT_THAT(result.out, Not(HasSubstr("sk-abc9xyz")));
}

TEST_F(CliEndToEndTest, UpstreamUpdateSendsOnlyTheGivenFields) {
  // UpdateUpstream on the wire carries the name and a mask of exactly the flags given.
  FakeAdminService::Responses responses;
  responses.upstream.set_name("local");
  fake_.setResponses(responses);
  CliResult result = fwdctl({"upstream", "update", "local", "--timeout", "45s",
                             "--insecure-skip-verify=false", "--api-key-env", "LOCAL_KEY"});
  ASSERT_EQ(result.exit_code, commands::kExitOk) << result.err;
  EXPECT_EQ(result.out, "upstream \"local\" updated\n");
  auto request = fake_.lastRequest<fwd::v1::UpdateUpstreamRequest>();
  EXPECT_EQ(fake_.lastMethod(), "UpdateUpstream");
  EXPECT_EQ(request.upstream().name(), "local");
  EXPECT_THAT(request.update_mask().paths(),
              ElementsAre("api_key_env", "timeout", "insecure_skip_verify"));
  EXPECT_EQ(request.upstream().api_key_env(), "LOCAL_KEY");
  EXPECT_EQ(request.upstream().timeout().seconds(), 45);
}

TEST_F(CliEndToEndTest, UpstreamListAndGetRenderTables) {
  // ListUpstreams renders the aligned table with the health the server summed; GetUpstream
  // sends the name and prints details, health included.
  FakeAdminService::Responses responses;
  fwd::v1::Upstream* a = responses.upstreams.add_upstreams();
  a->set_name("a");
  a->set_base_url("http://a");
  a->set_api_key_env("A_KEY");
  a->set_weight(1);
  a->mutable_timeout()->set_seconds(30);
  a->mutable_health()->set_nodes_reporting(2);
  a->mutable_health()->set_nodes_ejected(1);
  a->mutable_health()->set_ejections(5);
  responses.upstream = *a;
  fake_.setResponses(responses);

  CliResult list = fwdctl({"upstream", "list"});
  ASSERT_EQ(list.exit_code, commands::kExitOk) << list.err;
  EXPECT_EQ(
      list.out,
      "NAME  BASE_URL  PROVIDER  MODELS  PRIORITY  WEIGHT  TIMEOUT  CREDENTIAL  HEALTH\n"
      "a     http://a  openai    -       0         1       30s      env:A_KEY   ejected 1/2\n");
  CliResult json = fwdctl({"upstream", "list", "-o", "json"});
  ASSERT_EQ(json.exit_code, commands::kExitOk) << json.err;
  EXPECT_EQ(nlohmann::json::parse(json.out)["upstreams"][0]["health"]["nodes_ejected"], 1);

  CliResult get = fwdctl({"upstream", "get", "a"});
  ASSERT_EQ(get.exit_code, commands::kExitOk) << get.err;
  EXPECT_EQ(fake_.lastRequest<fwd::v1::GetUpstreamRequest>().name(), "a");
  EXPECT_THAT(get.out, HasSubstr("credential:                 env:A_KEY\n"));
  EXPECT_THAT(get.out, HasSubstr("health:                     ejected 1/2\n"
                                 "nodes_reporting:            2\n"
                                 "ejections:                  5\n"));
}

TEST_F(CliEndToEndTest, KeyCreatePrintsSecretAndListDoesNot) {
  // The secret appears in `key create` output only; `key list -o json` has no secret or hash.
  FakeAdminService::Responses responses;
  responses.created_key.mutable_key()->set_name("ci");
  responses.created_key.mutable_key()->set_display_prefix("fwd-Q1w2");
  responses.created_key.set_secret("fwd-Q1w2e3r4t5y6");
  fwd::v1::Key* listed = responses.keys.add_keys();
  listed->set_name("ci");
  listed->set_display_prefix("fwd-Q1w2");
  listed->set_secret_sha256(std::string(64, 'a'));
  fake_.setResponses(responses);

  CliResult created = fwdctl({"key", "create", "ci", "--model", "gpt-4o", "--model", "o1"});
  ASSERT_EQ(created.exit_code, commands::kExitOk) << created.err;
  auto request = fake_.lastRequest<fwd::v1::CreateKeyRequest>();
  EXPECT_EQ(request.name(), "ci");
  EXPECT_THAT(request.models(), ElementsAre("gpt-4o", "o1"));
  EXPECT_THAT(created.out, HasSubstr("\n    fwd-Q1w2e3r4t5y6\n"));
  EXPECT_THAT(created.out, HasSubstr("will not be shown again"));

  CliResult list = fwdctl({"key", "list", "-o", "json"});
  ASSERT_EQ(list.exit_code, commands::kExitOk) << list.err;
  EXPECT_EQ(fake_.lastMethod(), "ListKeys");
  EXPECT_THAT(list.out, Not(HasSubstr("fwd-Q1w2e3")));
  EXPECT_THAT(list.out, Not(HasSubstr("aaaa")));
  EXPECT_EQ(nlohmann::json::parse(list.out)["keys"][0]["display_prefix"], "fwd-Q1w2");
}

TEST_F(CliEndToEndTest, KeyGetUpdateAndRotateSendTheirRequests) {
  // get shows one key; update sends the models with their mask (or clears them); rotate sends
  // the grace period and prints the new secret once, saying until when the old one works.
  FakeAdminService::Responses responses;
  responses.key.set_name("ci");
  responses.key.set_display_prefix("fwd-Q1w2");
  responses.key.add_models("gpt-*");
  responses.key.mutable_create_time()->set_seconds(1795341600);
  responses.created_key.mutable_key()->set_name("ci");
  responses.created_key.mutable_key()->set_display_prefix("fwd-Z9x8");
  responses.created_key.mutable_key()->mutable_previous_secret_expire_time()->set_seconds(
      1795342200);
  responses.created_key.set_secret("fwd-Z9x8c7v6b5n4");
  fake_.setResponses(responses);

  CliResult got = fwdctl({"key", "get", "ci"});
  ASSERT_EQ(got.exit_code, commands::kExitOk) << got.err;
  EXPECT_EQ(fake_.lastMethod(), "GetKey");
  EXPECT_EQ(fake_.lastRequest<fwd::v1::GetKeyRequest>().name(), "ci");
  EXPECT_THAT(got.out, HasSubstr("models:         gpt-*\n"));

  CliResult updated = fwdctl({"key", "update", "ci", "--model", "gpt-4o", "--model", "o1"});
  ASSERT_EQ(updated.exit_code, commands::kExitOk) << updated.err;
  auto update = fake_.lastRequest<fwd::v1::UpdateKeyRequest>();
  EXPECT_EQ(update.key().name(), "ci");
  EXPECT_THAT(update.key().models(), ElementsAre("gpt-4o", "o1"));
  EXPECT_THAT(update.update_mask().paths(), ElementsAre("models"));
  CliResult cleared = fwdctl({"key", "update", "ci", "--clear-models"});
  ASSERT_EQ(cleared.exit_code, commands::kExitOk) << cleared.err;
  EXPECT_EQ(fake_.lastRequest<fwd::v1::UpdateKeyRequest>().key().models_size(), 0);
  CliResult both = fwdctl({"key", "update", "ci", "--clear-models", "--model", "x"});
  EXPECT_EQ(both.exit_code, commands::kExitUsage);
  EXPECT_THAT(both.err, HasSubstr("--clear-models and --model cannot be used together"));
  CliResult nothing = fwdctl({"key", "update", "ci"});
  EXPECT_EQ(nothing.exit_code, commands::kExitUsage);

  CliResult rotated = fwdctl({"key", "rotate", "ci", "--grace", "10m"});
  ASSERT_EQ(rotated.exit_code, commands::kExitOk) << rotated.err;
  auto rotate = fake_.lastRequest<fwd::v1::RotateKeyRequest>();
  EXPECT_EQ(rotate.name(), "ci");
  EXPECT_EQ(rotate.grace().seconds(), 600);
  EXPECT_THAT(rotated.out, HasSubstr("\n    fwd-Z9x8c7v6b5n4\n"));
  EXPECT_THAT(rotated.out, HasSubstr("The old secret works until 2026-11-22T10:10:00Z."));
  CliResult bad = fwdctl({"key", "rotate", "ci", "--grace", "ten"});
  EXPECT_EQ(bad.exit_code, commands::kExitUsage);
  EXPECT_THAT(bad.err, HasSubstr("--grace"));
}

TEST_F(CliEndToEndTest, SettingsListAndSetAndKeyErrorsAs200) {
  // settings list renders every setting; settings set sends NAME VALUE; key create/update send
  // errors_as_200 (update names it in the mask, =false included).
  FakeAdminService::Responses responses;
  fwd::v1::Setting* s = responses.settings.add_settings();
  s->set_name("errors_as_200");
  s->set_value("false");
  s->set_default_value("false");
  s->set_description("answer errors with 200");
  responses.setting = *s;
  responses.setting.set_value("true");
  fake_.setResponses(responses);

  CliResult list = fwdctl({"settings", "list"});
  ASSERT_EQ(list.exit_code, commands::kExitOk) << list.err;
  EXPECT_THAT(list.out, HasSubstr("errors_as_200  false  false    answer errors with 200"));
  CliResult set = fwdctl({"settings", "set", "errors_as_200", "true"});
  ASSERT_EQ(set.exit_code, commands::kExitOk) << set.err;
  auto request = fake_.lastRequest<fwd::v1::SetSettingRequest>();
  EXPECT_EQ(request.name(), "errors_as_200");
  EXPECT_EQ(request.value(), "true");
  EXPECT_EQ(set.out, "setting errors_as_200 = true\n");
  CliResult missing = fwdctl({"settings", "set", "errors_as_200"});
  EXPECT_EQ(missing.exit_code, commands::kExitUsage);
  EXPECT_THAT(missing.err, HasSubstr("missing NAME VALUE"));

  CliResult created = fwdctl({"key", "create", "legacy", "--errors-as-200"});
  ASSERT_EQ(created.exit_code, commands::kExitOk) << created.err;
  EXPECT_TRUE(fake_.lastRequest<fwd::v1::CreateKeyRequest>().errors_as_200());
  CliResult off = fwdctl({"key", "update", "legacy", "--errors-as-200=false"});
  ASSERT_EQ(off.exit_code, commands::kExitOk) << off.err;
  auto update = fake_.lastRequest<fwd::v1::UpdateKeyRequest>();
  EXPECT_FALSE(update.key().errors_as_200());
  EXPECT_THAT(update.update_mask().paths(), ElementsAre("errors_as_200"));

  // --log-bodies: the same shape.
  CliResult logged = fwdctl({"key", "create", "audited", "--log-bodies"});
  ASSERT_EQ(logged.exit_code, commands::kExitOk) << logged.err;
  EXPECT_TRUE(fake_.lastRequest<fwd::v1::CreateKeyRequest>().log_bodies());
  EXPECT_FALSE(fake_.lastRequest<fwd::v1::CreateKeyRequest>().errors_as_200());
  CliResult unlogged = fwdctl({"key", "update", "audited", "--log-bodies=false"});
  ASSERT_EQ(unlogged.exit_code, commands::kExitOk) << unlogged.err;
  auto bodies = fake_.lastRequest<fwd::v1::UpdateKeyRequest>();
  EXPECT_FALSE(bodies.key().log_bodies());
  EXPECT_THAT(bodies.update_mask().paths(), ElementsAre("log_bodies"));
}

TEST_F(CliEndToEndTest, IpRulesAndKeyIpListsSendTheirRequests) {
  // ip allow/deny/trust send the block and action; ip remove one action or all; ip list renders
  // the table; key create/update send --allow-ip/--deny-ip (update with its mask path).
  FakeAdminService::Responses responses;
  responses.ip_rule.set_cidr("10.0.0.0/8");
  responses.ip_rule.set_action(fwd::v1::IpRule::ACTION_TRUST);
  fwd::v1::IpRule* listed = responses.ip_rules.add_rules();
  listed->set_cidr("203.0.113.0/24");
  listed->set_action(fwd::v1::IpRule::ACTION_DENY);
  listed->mutable_create_time()->set_seconds(1795341600);
  responses.ip_removed.set_removed(2);
  responses.ip_removed.set_version(9);
  fake_.setResponses(responses);

  CliResult trust = fwdctl({"ip", "trust", "10.0.0.0/8"});
  ASSERT_EQ(trust.exit_code, commands::kExitOk) << trust.err;
  auto add = fake_.lastRequest<fwd::v1::AddIpRuleRequest>();
  EXPECT_EQ(add.rule().cidr(), "10.0.0.0/8");
  EXPECT_EQ(add.rule().action(), fwd::v1::IpRule::ACTION_TRUST);
  EXPECT_EQ(trust.out, "ip rule added: trust 10.0.0.0/8\n");
  ASSERT_EQ(fwdctl({"ip", "deny", "203.0.113.0/24"}).exit_code, commands::kExitOk);
  EXPECT_EQ(fake_.lastRequest<fwd::v1::AddIpRuleRequest>().rule().action(),
            fwd::v1::IpRule::ACTION_DENY);

  CliResult list = fwdctl({"ip", "list"});
  ASSERT_EQ(list.exit_code, commands::kExitOk) << list.err;
  EXPECT_EQ(list.out,
            "ACTION  CIDR            CREATED\n"
            "deny    203.0.113.0/24  2026-11-22T10:00:00Z\n");

  CliResult all = fwdctl({"ip", "remove", "10.0.0.0/8"});
  ASSERT_EQ(all.exit_code, commands::kExitOk) << all.err;
  EXPECT_EQ(fake_.lastRequest<fwd::v1::RemoveIpRuleRequest>().action(),
            fwd::v1::IpRule::ACTION_UNSPECIFIED);
  EXPECT_EQ(all.out, "2 ip rule(s) removed for 10.0.0.0/8 (config version 9)\n");
  ASSERT_EQ(fwdctl({"ip", "remove", "10.0.0.0/8", "--trust"}).exit_code, commands::kExitOk);
  EXPECT_EQ(fake_.lastRequest<fwd::v1::RemoveIpRuleRequest>().action(),
            fwd::v1::IpRule::ACTION_TRUST);
  EXPECT_EQ(fwdctl({"ip", "remove", "10.0.0.0/8", "--trust", "--deny"}).exit_code,
            commands::kExitUsage);

  ASSERT_EQ(
      fwdctl({"key", "create", "office", "--allow-ip", "10.0.0.0/8", "--deny-ip", "10.1.0.0/16"})
          .exit_code,
      commands::kExitOk);
  auto created = fake_.lastRequest<fwd::v1::CreateKeyRequest>();
  EXPECT_THAT(created.allow_ips(), ElementsAre("10.0.0.0/8"));
  EXPECT_THAT(created.deny_ips(), ElementsAre("10.1.0.0/16"));
  ASSERT_EQ(fwdctl({"key", "update", "office", "--allow-ip", "::1", "--clear-deny-ip"}).exit_code,
            commands::kExitOk);
  auto updated = fake_.lastRequest<fwd::v1::UpdateKeyRequest>();
  EXPECT_THAT(updated.key().allow_ips(), ElementsAre("::1"));
  EXPECT_EQ(updated.key().deny_ips_size(), 0);
  EXPECT_THAT(updated.update_mask().paths(), ElementsAre("allow_ips", "deny_ips"));
}

TEST_F(CliEndToEndTest, StatusPrintsVersionAndNodes) {
  // GetStatus is rendered as the version line and the node table, with the node's reported
  // upstreams counted; -o json carries them one by one.
  FakeAdminService::Responses responses;
  responses.status.set_version(9);
  fwd::v1::DataPlaneStatus* node = responses.status.add_dataplanes();
  node->set_node_id("dp-1");
  node->set_applied_version(9);
  node->set_connected(true);
  node->mutable_uptime()->set_seconds(3600);
  fwd::v1::UpstreamState* a = node->add_upstreams();
  a->set_name("a");
  a->set_ejected(true);
  a->mutable_ejection_left()->set_seconds(30);
  node->add_upstreams()->set_name("b");
  fake_.setResponses(responses);
  CliResult result = fwdctl({"status"});
  ASSERT_EQ(result.exit_code, commands::kExitOk) << result.err;
  EXPECT_EQ(result.out,
            "config version 9\n"
            "NODE  APPLIED  IN_SYNC  CONNECTED  UPTIME  EJECTED  UNHEALTHY  LAST_ERROR\n"
            "dp-1  9        yes      yes        1h      1/2      0/2        -\n");
  CliResult json = fwdctl({"status", "-o", "json"});
  ASSERT_EQ(json.exit_code, commands::kExitOk) << json.err;
  nlohmann::json upstreams = nlohmann::json::parse(json.out)["dataplanes"][0]["upstreams"];
  ASSERT_EQ(upstreams.size(), 2u);
  EXPECT_EQ(upstreams[0]["name"], "a");
  EXPECT_EQ(upstreams[0]["ejection_left"], "30s");
  EXPECT_EQ(upstreams[1]["ejected"], false);
}

TEST_F(CliEndToEndTest, ServerErrorsComeBackWithTheirCode) {
  // A gRPC error from the server exits 1 with its code words and message, stdout empty.
  fake_.setResponses(failing(grpc::StatusCode::ALREADY_EXISTS, "upstream \"x\" already exists"));
  CliResult exists = fwdctl({"upstream", "add", "x", "--base-url", "http://h"});
  EXPECT_EQ(exists.exit_code, commands::kExitServerError);
  EXPECT_EQ(exists.err, "fwdctl: already exists: upstream \"x\" already exists\n");
  EXPECT_EQ(exists.out, "");

  fake_.setResponses(failing(grpc::StatusCode::UNAUTHENTICATED, "invalid admin token"));
  CliResult denied = fwdctl({"key", "revoke", "ci"});
  EXPECT_EQ(denied.exit_code, commands::kExitServerError);
  EXPECT_EQ(denied.err, "fwdctl: unauthenticated: invalid admin token\n");

  // UNAVAILABLE sent by a reachable server is the server's answer (1), not "unreachable" (3).
  fake_.setResponses(failing(grpc::StatusCode::UNAVAILABLE, "store busy"));
  CliResult busy = fwdctl({"status"});
  EXPECT_EQ(busy.exit_code, commands::kExitServerError);
  EXPECT_EQ(busy.err, "fwdctl: unavailable: store busy\n");
}

TEST_F(CliEndToEndTest, SlowServerHitsTheDeadline) {
  // --timeout bounds each call; a connected but slow server is a server-side error (exit 1).
  FakeAdminService::Responses slow;
  slow.delay = std::chrono::milliseconds(800);
  fake_.setResponses(slow);
  auto start = std::chrono::steady_clock::now();
  CliResult result = fwdctl({"--timeout", "100ms", "status"});
  EXPECT_EQ(result.exit_code, commands::kExitServerError);
  EXPECT_THAT(result.err, ::testing::StartsWith("fwdctl: deadline exceeded"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(700));
}

}  // namespace
}  // namespace fwd::cli::testing
