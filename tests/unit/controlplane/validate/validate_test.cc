// Validation rules of controlplane/validate: table-driven good and bad inputs with the exact
// messages operators see.
#include "controlplane/validate/validate.h"

#include <gtest/gtest.h>

#include <functional>

#include "controlplane/validate/settings.h"
#include "google/protobuf/unknown_field_set.h"

namespace fwd::controlplane::validate {
namespace {

fwd::v1::Upstream base() {
  fwd::v1::Upstream u;
  u.set_name("openai");
  u.set_base_url("https://api.openai.com/v1");
  return u;
}

/// What a newer client's field looks like to this build: an unknown varint field.
void addUnknownVarint(google::protobuf::Message& message, int number) {
  message.GetReflection()->MutableUnknownFields(&message)->AddVarint(number, 1);
}

struct BadCase {
  const char* what;
  std::function<void(fwd::v1::Upstream&)> edit;
  const char* message;
};

TEST(ValidateTest, RejectsBadUpstreamsWithPreciseMessages) {
  // Each broken field yields INVALID_ARGUMENT naming the field and the value.
  const std::vector<BadCase> cases = {
      {"empty name", [](auto& u) { u.set_name(""); },
       "upstream.name \"\": must be 1 to 63 lowercase letters, digits, '.', '_' or '-', starting "
       "with a letter or digit"},
      {"uppercase name", [](auto& u) { u.set_name("OpenAI"); },
       "upstream.name \"OpenAI\": must be 1 to 63 lowercase letters, digits, '.', '_' or '-', "
       "starting with a letter or digit"},
      {"leading dash", [](auto& u) { u.set_name("-a"); }, nullptr},
      {"64 chars", [](auto& u) { u.set_name(std::string(64, 'a')); }, nullptr},
      {"control char", [](auto& u) { u.set_name("a\nb"); },
       "upstream.name \"a\\x0ab\": must be 1 to 63 lowercase letters, digits, '.', '_' or '-', "
       "starting with a letter or digit"},
      {"no url", [](auto& u) { u.set_base_url(""); },
       "upstream.base_url is required (write http(s)://host[:port][/prefix], e.g. "
       "https://api.openai.com/v1)"},
      {"relative url", [](auto& u) { u.set_base_url("api.openai.com/v1"); },
       "upstream.base_url \"api.openai.com/v1\": not an absolute URL (write "
       "http(s)://host[:port][/prefix], e.g. https://api.openai.com/v1)"},
      {"ftp", [](auto& u) { u.set_base_url("ftp://files.example.com/"); },
       "upstream.base_url \"ftp://files.example.com/\": scheme must be http or https"},
      {"no host", [](auto& u) { u.set_base_url("http:///v1"); },
       "upstream.base_url \"http:///v1\": host is missing (write http(s)://host[:port][/prefix], "
       "e.g. https://api.openai.com/v1)"},
      {"userinfo", [](auto& u) { u.set_base_url("https://user:pw@example.com"); },
       "upstream.base_url \"https://user:pw@example.com\": user info (user:password@) is not "
       "allowed: put the credential in api_key"},
      {"query", [](auto& u) { u.set_base_url("https://example.com/v1?x=1"); },
       "upstream.base_url \"https://example.com/v1?x=1\": a query ('?...') is not allowed"},
      {"fragment", [](auto& u) { u.set_base_url("https://example.com/v1#x"); },
       "upstream.base_url \"https://example.com/v1#x\": a fragment ('#...') is not allowed"},
      {"port too big", [](auto& u) { u.set_base_url("http://example.com:70000"); },
       "upstream.base_url \"http://example.com:70000\": port must be 1..65535"},
      {"empty port", [](auto& u) { u.set_base_url("http://example.com:/v1"); }, nullptr},
      {"bad glob",
       [](auto& u) {
         u.add_models("gpt-4o");
         u.add_models("gpt 4");
       },
       "upstream.models[1] \"gpt 4\": not a valid pattern: use 1 to 256 printable ASCII "
       "characters without spaces, '*' matches any run of characters"},
      {"weight", [](auto& u) { u.set_weight(1001); },
       "upstream.weight 1001: must be 0..1000 (0 means 1)"},
      {"priority", [](auto& u) { u.set_priority(-1001); },
       "upstream.priority -1001: must be -1000..1000 (lower is tried first)"},
      {"zero timeout", [](auto& u) { u.mutable_timeout()->set_seconds(0); },
       "upstream.timeout 0s: must be more than 0 and at most 1h (unset means 600s)"},
      {"long timeout", [](auto& u) { u.mutable_timeout()->set_seconds(3601); },
       "upstream.timeout 3601s: must be more than 0 and at most 1h (unset means 600s)"},
      {"just over 1h",
       [](auto& u) {
         u.mutable_timeout()->set_seconds(3600);
         u.mutable_timeout()->set_nanos(1);
       },
       nullptr},
      {"malformed duration",
       [](auto& u) {
         u.mutable_timeout()->set_seconds(1);
         u.mutable_timeout()->set_nanos(-5);
       },
       "upstream.timeout 1s -5ns: not a valid duration (seconds and nanos disagree)"},
      {"empty api_key", [](auto& u) { u.set_api_key(""); },
       "upstream.api_key is empty: omit it for an upstream that needs no credential"},
      {"api_key newline", [](auto& u) { u.set_api_key("sk-secret\n"); },
       "upstream.api_key contains whitespace or control characters (value not shown): check for "
       "a stray newline or space"},
      {"api_key too long", [](auto& u) { u.set_api_key(std::string(4097, 'k')); },
       "upstream.api_key is 4097 bytes long, at most 4096 allowed"},
      {"env name", [](auto& u) { u.set_api_key_env("1KEY"); },
       "upstream.api_key_env \"1KEY\": not an environment variable name: use letters, digits and "
       "'_', not starting with a digit, e.g. OPENAI_API_KEY"},
      {"env dash", [](auto& u) { u.set_api_key_env("MY-KEY"); }, nullptr},
  };
  for (const BadCase& c : cases) {
    fwd::v1::Upstream u = base();
    c.edit(u);
    absl::Status s = normalizeUpstream(u);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.what;
    if (c.message != nullptr) {
      EXPECT_EQ(std::string(s.message()), c.message) << c.what;
    }
  }
}

TEST(ValidateTest, ApiKeyNeverAppearsInMessages) {
  // A rejected secret is described, never echoed.
  fwd::v1::Upstream u = base();
  u.set_api_key("sk-verysecret value");
  absl::Status s = normalizeUpstream(u);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(std::string(s.message()).find("verysecret"), std::string::npos);
}

struct GoodCase {
  const char* what;
  std::function<void(fwd::v1::Upstream&)> edit;
  std::function<void(const fwd::v1::Upstream&)> check;
};

TEST(ValidateTest, AcceptsAndNormalizesGoodUpstreams) {
  // Valid inputs pass and come out in stored form: no trailing '/', lowercase scheme,
  // weight 0 -> 1, default timeout 600s.
  const std::vector<GoodCase> cases = {
      {"defaults", [](auto& u) {},
       [](const auto& u) {
         EXPECT_EQ(u.weight(), 1u);
         EXPECT_EQ(u.timeout().seconds(), 600);
         EXPECT_EQ(u.base_url(), "https://api.openai.com/v1");
       }},
      {"trailing slash", [](auto& u) { u.set_base_url("http://127.0.0.1:8080/v1/"); },
       [](const auto& u) { EXPECT_EQ(u.base_url(), "http://127.0.0.1:8080/v1"); }},
      {"root slash", [](auto& u) { u.set_base_url("HTTP://Example.com/"); },
       [](const auto& u) { EXPECT_EQ(u.base_url(), "http://Example.com"); }},
      {"ipv6", [](auto& u) { u.set_base_url("http://[::1]:11434"); },
       [](const auto& u) { EXPECT_EQ(u.base_url(), "http://[::1]:11434"); }},
      {"limits",
       [](auto& u) {
         u.set_name(std::string("a") + std::string(62, '.'));
         u.set_weight(1000);
         u.set_priority(-1000);
         u.mutable_timeout()->set_seconds(3600);
         u.set_api_key(std::string(4096, 'k'));
         u.add_models("*");
         u.add_models("/v1/audio/*");
       },
       [](const auto& u) { EXPECT_EQ(u.weight(), 1000u); }},
      {"sub-second timeout", [](auto& u) { u.mutable_timeout()->set_nanos(500000000); },
       [](const auto& u) { EXPECT_EQ(u.timeout().nanos(), 500000000); }},
      {"env", [](auto& u) { u.set_api_key_env("_OPENAI_KEY2"); },
       [](const auto& u) { EXPECT_EQ(u.api_key_env(), "_OPENAI_KEY2"); }},
      {"name chars", [](auto& u) { u.set_name("0vllm_a-b.c"); }, [](const auto& u) {}},
  };
  for (const GoodCase& c : cases) {
    fwd::v1::Upstream u = base();
    c.edit(u);
    absl::Status s = normalizeUpstream(u);
    ASSERT_TRUE(s.ok()) << c.what << ": " << s;
    c.check(u);
  }
}

TEST(ValidateTest, UpdateMaskPathsAreChecked) {
  // Empty masks and paths outside admin.proto's list are INVALID_ARGUMENT.
  google::protobuf::FieldMask mask;
  absl::Status empty = checkUpstreamMask(mask);
  EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(empty.message()).rfind("nothing to update", 0), 0u);
  for (const char* path : {"base_url",
                           "api_key",
                           "api_key_env",
                           "models",
                           "priority",
                           "weight",
                           "timeout",
                           "insecure_skip_verify",
                           "deny_models",
                           "connect_timeout",
                           "first_byte_timeout",
                           "stream_first_byte_timeout",
                           "idle_timeout",
                           "outlier_detection",
                           "outlier_detection.disabled",
                           "outlier_detection.consecutive_failures",
                           "outlier_detection.base_ejection_time",
                           "outlier_detection.max_ejection_time",
                           "health_check",
                           "health_check.path",
                           "health_check.interval",
                           "health_check.timeout",
                           "health_check.unhealthy_threshold",
                           "health_check.healthy_threshold"}) {
    google::protobuf::FieldMask one;
    one.add_paths(path);
    EXPECT_TRUE(checkUpstreamMask(one).ok()) << path;
  }
  for (const char* path : {"name", "id", "create_time", "api_key_hint", "Weight", "", "health",
                           "outlier_detection.nope", "health_check.", "timeout.seconds"}) {
    google::protobuf::FieldMask one;
    one.add_paths("weight");
    one.add_paths(path);
    absl::Status s = checkUpstreamMask(one);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << path;
    EXPECT_EQ(std::string(s.message()),
              "update_mask path \"" + std::string(path) +
                  "\": not an updatable upstream field (use base_url, api_key, api_key_env, "
                  "models, priority, weight, timeout, insecure_skip_verify, deny_models, "
                  "connect_timeout, first_byte_timeout, stream_first_byte_timeout, idle_timeout, "
                  "outlier_detection, outlier_detection.disabled, "
                  "outlier_detection.consecutive_failures, outlier_detection.base_ejection_time, "
                  "outlier_detection.max_ejection_time, health_check, health_check.path, "
                  "health_check.interval, health_check.timeout, health_check.unhealthy_threshold, "
                  "health_check.healthy_threshold, edits, edits.max_tokens_cap, edits.stop, "
                  "edits.drop_empty_messages, edits.strip_think, edits.answer_prefix, "
                  "edits.stream_mode, provider, azure, azure.deployments, azure.api_version, "
                  "replicate, replicate.prompt_templates)");
  }
}

TEST(ValidateProviderTest, AzureNeedsItsShapeAndWellFormedOptions) {
  auto azure = [](std::string_view base_url) {
    fwd::v1::Upstream u = base();
    u.set_base_url(std::string(base_url));
    u.set_provider(fwd::v1::PROVIDER_AZURE);
    return u;
  };
  auto message = [](fwd::v1::Upstream u) { return std::string(normalizeUpstream(u).message()); };

  fwd::v1::Upstream classic = azure("https://res.openai.azure.com");
  EXPECT_EQ(message(classic),
            "upstream.azure.api_version is required by Azure's classic API (a base URL not ending "
            "in /openai/v1), e.g. --azure-api-version 2024-10-21");
  classic.mutable_azure()->set_api_version("2024-10-21");
  (*classic.mutable_azure()->mutable_deployments())["gpt-4o"] = "gpt4o-prod";
  (*classic.mutable_azure()->mutable_deployments())["/v1/audio/transcriptions"] = "whisper";
  EXPECT_TRUE(normalizeUpstream(classic).ok()) << message(classic);

  fwd::v1::Upstream v1 = azure("https://res.openai.azure.com/openai/v1/");
  EXPECT_TRUE(normalizeUpstream(v1).ok()) << message(v1);
  v1.mutable_azure()->set_api_version("preview");
  EXPECT_TRUE(normalizeUpstream(v1).ok()) << message(v1);
  (*v1.mutable_azure()->mutable_deployments())["gpt-4o"] = "gpt4o-prod";
  EXPECT_EQ(message(v1),
            "upstream.azure.deployments: Azure's v1 API (a base URL ending in /openai/v1) takes "
            "the deployment name as the model; rename models with a route's --rewrite-model, or "
            "use the classic base URL https://RESOURCE.openai.azure.com");

  fwd::v1::Upstream bad = classic;
  bad.mutable_azure()->set_api_version("2024-10-21&x=1");
  EXPECT_EQ(message(bad),
            "upstream.azure.api_version \"2024-10-21&x=1\": must be 1..32 letters, digits, '.', "
            "'_' or '-', e.g. 2024-10-21");
  bad = classic;
  (*bad.mutable_azure()->mutable_deployments())["gpt-4o"] = "gpt 4o";
  EXPECT_EQ(message(bad),
            "upstream.azure.deployments \"gpt-4o=gpt 4o\": a deployment name must be 1..64 "
            "letters, digits, '.', '_' or '-'");
  bad = classic;
  (*bad.mutable_azure()->mutable_deployments())["a\nb"] = "x";
  EXPECT_EQ(message(bad),
            "upstream.azure.deployments \"a\\x0ab\": a model must be 1..256 bytes without control "
            "characters");

  fwd::v1::Upstream openai = base();
  openai.mutable_azure()->set_api_version("2024-10-21");
  EXPECT_EQ(message(openai),
            "upstream.azure: Azure options need provider azure (fwdctl --provider azure)");
  openai.clear_azure();
  openai.set_provider(static_cast<fwd::v1::Provider>(9));
  EXPECT_EQ(message(openai), "upstream.provider 9: must be openai, azure, dashscope or replicate");
}

TEST(ValidateProviderTest, ReplicateTemplatesAreKnownNamesForWellFormedModels) {
  auto message = [](fwd::v1::Upstream u) { return std::string(normalizeUpstream(u).message()); };
  fwd::v1::Upstream u = base();
  u.set_base_url("https://api.replicate.com/v1");
  u.set_provider(fwd::v1::PROVIDER_REPLICATE);
  EXPECT_TRUE(normalizeUpstream(u).ok()) << message(u);
  (*u.mutable_replicate()->mutable_prompt_templates())["meta/meta-llama-3-8b-instruct"] = "llama3";
  (*u.mutable_replicate()->mutable_prompt_templates())["*"] = "chatml";
  EXPECT_TRUE(normalizeUpstream(u).ok()) << message(u);

  fwd::v1::Upstream bad = u;
  (*bad.mutable_replicate()->mutable_prompt_templates())["*"] = "vicuna";
  EXPECT_EQ(message(bad),
            "upstream.replicate.prompt_templates \"*=vicuna\": the template must be mistral, "
            "llama2, llama3, chatml or plain");
  bad = u;
  (*bad.mutable_replicate()->mutable_prompt_templates())["a\tb"] = "plain";
  EXPECT_EQ(message(bad),
            "upstream.replicate.prompt_templates \"a\\x09b\": a model must be 1..256 bytes "
            "without control characters (\"*\": every other model)");

  bad = u;
  bad.mutable_azure()->set_api_version("2024-10-21");
  EXPECT_EQ(message(bad),
            "upstream.azure: Azure options need provider azure (fwdctl --provider azure)");

  fwd::v1::Upstream openai = base();
  (*openai.mutable_replicate()->mutable_prompt_templates())["*"] = "plain";
  EXPECT_EQ(message(openai),
            "upstream.replicate: Replicate options need provider replicate (fwdctl --provider "
            "replicate)");

  fwd::v1::Upstream patch;
  (*patch.mutable_replicate()->mutable_prompt_templates())["x/y"] = "plain";
  google::protobuf::FieldMask templates;
  templates.add_paths("replicate.prompt_templates");
  ASSERT_TRUE(checkUpstreamMask(templates).ok());
  ASSERT_TRUE(applyUpstreamMask(patch, templates, u).ok());
  ASSERT_EQ(u.replicate().prompt_templates().size(), 1u);
  EXPECT_EQ(u.replicate().prompt_templates().at("x/y"), "plain");
}

TEST(ValidateProviderTest, ProviderMaskPathsReplaceTheirFields) {
  fwd::v1::Upstream target = base();
  target.set_provider(fwd::v1::PROVIDER_AZURE);
  target.mutable_azure()->set_api_version("2024-06-01");
  (*target.mutable_azure()->mutable_deployments())["old"] = "old-dep";
  fwd::v1::Upstream patch;
  (*patch.mutable_azure()->mutable_deployments())["gpt-4o"] = "gpt4o";
  google::protobuf::FieldMask deployments;
  deployments.add_paths("azure.deployments");
  ASSERT_TRUE(checkUpstreamMask(deployments).ok());
  ASSERT_TRUE(applyUpstreamMask(patch, deployments, target).ok());
  EXPECT_EQ(target.azure().api_version(), "2024-06-01");
  ASSERT_EQ(target.azure().deployments().size(), 1u);
  EXPECT_EQ(target.azure().deployments().at("gpt-4o"), "gpt4o");

  google::protobuf::FieldMask back;
  back.add_paths("provider");
  back.add_paths("azure");
  ASSERT_TRUE(applyUpstreamMask(base(), back, target).ok());
  EXPECT_EQ(target.provider(), fwd::v1::PROVIDER_UNSPECIFIED);
  EXPECT_FALSE(target.has_azure());
}

google::protobuf::Duration seconds(std::int64_t s, std::int32_t nanos = 0) {
  google::protobuf::Duration d;
  d.set_seconds(s);
  d.set_nanos(nanos);
  return d;
}

TEST(ValidateTest, RejectsBadDenyListsTimeoutsOutlierAndHealthChecks) {
  // Each broken new upstream field yields INVALID_ARGUMENT naming the field, the value, and the
  // field it conflicts with (saying when that one is a default).
  const std::vector<BadCase> cases = {
      {"bad deny glob", [](auto& u) { u.add_deny_models("gpt 4"); },
       "upstream.deny_models[0] \"gpt 4\": not a valid pattern: use 1 to 256 printable ASCII "
       "characters without spaces, '*' matches any run of characters"},
      {"zero connect", [](auto& u) { *u.mutable_connect_timeout() = seconds(0); },
       "upstream.connect_timeout 0s: must be at least 1ms and at most 1h (unset means 10s)"},
      {"negative idle", [](auto& u) { *u.mutable_idle_timeout() = seconds(-1); },
       "upstream.idle_timeout -1s: must be at least 1ms and at most 1h (unset means no idle "
       "limit)"},
      {"sub-millisecond first byte",
       [](auto& u) { *u.mutable_first_byte_timeout() = seconds(0, 500); },
       "upstream.first_byte_timeout 0s 500ns: must be at least 1ms and at most 1h (unset means "
       "upstream.timeout)"},
      {"malformed connect", [](auto& u) { *u.mutable_connect_timeout() = seconds(1, -5); },
       "upstream.connect_timeout 1s -5ns: not a valid duration (seconds and nanos disagree)"},
      {"first byte over total",
       [](auto& u) {
         *u.mutable_timeout() = seconds(30);
         *u.mutable_first_byte_timeout() = seconds(60);
       },
       "upstream.first_byte_timeout 1m: must not be longer than upstream.timeout (30s)"},
      {"stream first byte over default total",
       [](auto& u) { *u.mutable_stream_first_byte_timeout() = seconds(1200); },
       "upstream.stream_first_byte_timeout 20m: must not be longer than upstream.timeout (10m, "
       "the default)"},
      {"connect over total",
       [](auto& u) {
         *u.mutable_timeout() = seconds(5);
         *u.mutable_connect_timeout() = seconds(10);
       },
       "upstream.connect_timeout 10s: must not be longer than upstream.timeout (5s)"},
      {"idle over total",
       [](auto& u) {
         *u.mutable_timeout() = seconds(60);
         *u.mutable_idle_timeout() = seconds(90);
       },
       "upstream.idle_timeout 90s: must not be longer than upstream.timeout (1m)"},
      {"too many failures",
       [](auto& u) { u.mutable_outlier_detection()->set_consecutive_failures(1001); },
       "upstream.outlier_detection.consecutive_failures 1001: must be 0..1000 (0 means 5; to "
       "never eject, set disabled)"},
      {"zero ejection",
       [](auto& u) { *u.mutable_outlier_detection()->mutable_base_ejection_time() = seconds(0); },
       "upstream.outlier_detection.base_ejection_time 0s: must be at least 1ms and at most 24h "
       "(unset means 30s)"},
      {"base over max",
       [](auto& u) {
         *u.mutable_outlier_detection()->mutable_base_ejection_time() = seconds(600);
         *u.mutable_outlier_detection()->mutable_max_ejection_time() = seconds(300);
       },
       "upstream.outlier_detection.base_ejection_time 10m: must not be longer than "
       "upstream.outlier_detection.max_ejection_time (5m)"},
      {"base over default max",
       [](auto& u) { *u.mutable_outlier_detection()->mutable_base_ejection_time() = seconds(600); },
       "upstream.outlier_detection.base_ejection_time 10m: must not be longer than "
       "upstream.outlier_detection.max_ejection_time (5m, the default)"},
      {"max under default base",
       [](auto& u) { *u.mutable_outlier_detection()->mutable_max_ejection_time() = seconds(10); },
       "upstream.outlier_detection.max_ejection_time 10s: must not be shorter than "
       "upstream.outlier_detection.base_ejection_time (30s, the default)"},
      {"path without slash", [](auto& u) { u.mutable_health_check()->set_path("models"); },
       "upstream.health_check.path \"models\": must start with '/', e.g. /models (it is appended "
       "to base_url)"},
      {"path with space", [](auto& u) { u.mutable_health_check()->set_path("/a b"); },
       "upstream.health_check.path \"/a b\": must be printable ASCII without spaces or control "
       "characters (percent-encode anything else)"},
      {"path with newline", [](auto& u) { u.mutable_health_check()->set_path("/a\nb"); },
       "upstream.health_check.path \"/a\\x0ab\": must be printable ASCII without spaces or "
       "control characters (percent-encode anything else)"},
      {"long path",
       [](auto& u) { u.mutable_health_check()->set_path("/" + std::string(256, 'a')); }, nullptr},
      {"fast interval",
       [](auto& u) { *u.mutable_health_check()->mutable_interval() = seconds(0, 500'000'000); },
       "upstream.health_check.interval 500ms: must be at least 1s and at most 1h (unset means "
       "10s)"},
      {"zero health timeout",
       [](auto& u) { *u.mutable_health_check()->mutable_timeout() = seconds(0); },
       "upstream.health_check.timeout 0s: must be at least 1ms and at most 1h (unset means 5s)"},
      {"timeout equals interval",
       [](auto& u) {
         *u.mutable_health_check()->mutable_interval() = seconds(5);
         *u.mutable_health_check()->mutable_timeout() = seconds(5);
       },
       "upstream.health_check.timeout 5s: must be shorter than upstream.health_check.interval "
       "(5s)"},
      {"timeout over default interval",
       [](auto& u) { *u.mutable_health_check()->mutable_timeout() = seconds(15); },
       "upstream.health_check.timeout 15s: must be shorter than upstream.health_check.interval "
       "(10s, the default)"},
      {"interval under default timeout",
       [](auto& u) { *u.mutable_health_check()->mutable_interval() = seconds(3); },
       "upstream.health_check.interval 3s: must be longer than upstream.health_check.timeout "
       "(5s, the default)"},
      {"unhealthy threshold",
       [](auto& u) { u.mutable_health_check()->set_unhealthy_threshold(101); },
       "upstream.health_check.unhealthy_threshold 101: must be 0..100 (0 means 3)"},
      {"healthy threshold", [](auto& u) { u.mutable_health_check()->set_healthy_threshold(500); },
       "upstream.health_check.healthy_threshold 500: must be 0..100 (0 means 2)"},
  };
  for (const BadCase& c : cases) {
    fwd::v1::Upstream u = base();
    c.edit(u);
    absl::Status s = normalizeUpstream(u);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.what;
    if (c.message != nullptr) {
      EXPECT_EQ(std::string(s.message()), c.message) << c.what;
    }
  }
}

TEST(ValidateTest, AcceptsNewUpstreamFieldsAndLeavesUnsetOnesUnset) {
  // Good values at the limits pass unchanged; unset timeouts, outlier detection and health check
  // stay unset (their defaults follow other fields and are the data plane's to apply).
  fwd::v1::Upstream u = base();
  u.add_deny_models("gpt-4o-mini*");
  *u.mutable_connect_timeout() = seconds(0, 1'000'000);
  *u.mutable_first_byte_timeout() = seconds(600);  // equal to the default total
  *u.mutable_stream_first_byte_timeout() = seconds(10);
  *u.mutable_idle_timeout() = seconds(30);
  u.mutable_outlier_detection()->set_disabled(true);
  u.mutable_outlier_detection()->set_consecutive_failures(1000);
  *u.mutable_outlier_detection()->mutable_base_ejection_time() = seconds(300);  // = default max
  u.mutable_health_check()->set_path("/" + std::string(255, 'a'));
  *u.mutable_health_check()->mutable_interval() = seconds(1);
  *u.mutable_health_check()->mutable_timeout() = seconds(0, 999'000'000);
  u.mutable_health_check()->set_unhealthy_threshold(100);
  u.mutable_health_check()->set_healthy_threshold(1);
  const fwd::v1::Upstream before = u;
  absl::Status s = normalizeUpstream(u);
  ASSERT_TRUE(s.ok()) << s;
  fwd::v1::Upstream expected = before;
  *expected.mutable_timeout() = seconds(600);
  expected.set_weight(1);
  EXPECT_EQ(u.DebugString(), expected.DebugString());

  fwd::v1::Upstream empty_messages = base();
  empty_messages.mutable_outlier_detection();
  empty_messages.mutable_health_check();
  ASSERT_TRUE(normalizeUpstream(empty_messages).ok());
  EXPECT_TRUE(empty_messages.has_health_check());
  EXPECT_FALSE(empty_messages.health_check().has_interval());

  fwd::v1::Upstream plain = base();
  ASSERT_TRUE(normalizeUpstream(plain).ok());
  EXPECT_FALSE(plain.has_connect_timeout());
  EXPECT_FALSE(plain.has_first_byte_timeout());
  EXPECT_FALSE(plain.has_outlier_detection());
  EXPECT_FALSE(plain.has_health_check());
}

TEST(ValidateTest, NewUpstreamMaskPathsCarryPresence) {
  // A message path copies the patch's presence (unset clears); a "<message>.<field>" path changes
  // one field, keeps the others, and creates the message when there was none.
  fwd::v1::Upstream target = base();
  *target.mutable_connect_timeout() = seconds(5);
  target.add_deny_models("a*");
  target.mutable_outlier_detection()->set_consecutive_failures(3);
  *target.mutable_outlier_detection()->mutable_base_ejection_time() = seconds(60);
  target.mutable_health_check()->set_path("/health");
  *target.mutable_health_check()->mutable_interval() = seconds(20);

  fwd::v1::Upstream patch;
  *patch.mutable_first_byte_timeout() = seconds(30);
  patch.mutable_outlier_detection()->set_disabled(true);
  *patch.mutable_health_check()->mutable_timeout() = seconds(2);
  google::protobuf::FieldMask mask;
  for (const char* path :
       {"connect_timeout", "first_byte_timeout", "deny_models", "outlier_detection.disabled",
        "outlier_detection.base_ejection_time", "health_check.timeout", "health_check.interval"}) {
    mask.add_paths(path);
  }
  ASSERT_TRUE(checkUpstreamMask(mask).ok());
  ASSERT_TRUE(applyUpstreamMask(patch, mask, target).ok());
  EXPECT_FALSE(target.has_connect_timeout());
  EXPECT_EQ(target.first_byte_timeout().seconds(), 30);
  EXPECT_EQ(target.deny_models_size(), 0);
  EXPECT_TRUE(target.outlier_detection().disabled());
  EXPECT_EQ(target.outlier_detection().consecutive_failures(), 3u);
  EXPECT_FALSE(target.outlier_detection().has_base_ejection_time());
  EXPECT_EQ(target.health_check().path(), "/health");
  EXPECT_EQ(target.health_check().timeout().seconds(), 2);
  EXPECT_FALSE(target.health_check().has_interval());

  google::protobuf::FieldMask whole;
  whole.add_paths("outlier_detection");
  whole.add_paths("health_check");
  ASSERT_TRUE(applyUpstreamMask(fwd::v1::Upstream(), whole, target).ok());
  EXPECT_FALSE(target.has_outlier_detection());
  EXPECT_FALSE(target.has_health_check());

  fwd::v1::Upstream enable;
  enable.mutable_health_check()->set_path("/ping");
  enable.mutable_outlier_detection()->set_consecutive_failures(9);
  google::protobuf::FieldMask one_field;
  one_field.add_paths("health_check.path");
  one_field.add_paths("outlier_detection.consecutive_failures");
  ASSERT_TRUE(applyUpstreamMask(enable, one_field, target).ok());
  EXPECT_TRUE(target.has_health_check());
  EXPECT_EQ(target.health_check().path(), "/ping");
  EXPECT_EQ(target.outlier_detection().consecutive_failures(), 9u);
}

TEST(ValidateTest, CredentialPathsReplaceTheWholeCredential) {
  // "api_key" with an env patch switches to the env; with no credential in the patch, clears it.
  fwd::v1::Upstream target = base();
  target.set_api_key("sk-old-key-0000");
  fwd::v1::Upstream patch;
  patch.set_api_key_env("NEW_KEY");
  google::protobuf::FieldMask mask;
  mask.add_paths("api_key");
  ASSERT_TRUE(applyUpstreamMask(patch, mask, target).ok());
  EXPECT_EQ(target.credential_case(), fwd::v1::Upstream::kApiKeyEnv);
  EXPECT_EQ(target.api_key_env(), "NEW_KEY");
  ASSERT_TRUE(applyUpstreamMask(fwd::v1::Upstream(), mask, target).ok());
  EXPECT_EQ(target.credential_case(), fwd::v1::Upstream::CREDENTIAL_NOT_SET);
}

TEST(ValidateTest, UnknownFieldsAreFoundAtAnyDepth) {
  // Unknown fields on the request or inside a sub-message are reported with their numbers.
  fwd::v1::CreateUpstreamRequest request;
  *request.mutable_upstream() = base();
  EXPECT_TRUE(checkNoUnknownFields(request).ok());

  addUnknownVarint(*request.mutable_upstream(), 99);
  addUnknownVarint(*request.mutable_upstream()->mutable_timeout(), 7);
  absl::Status s = checkNoUnknownFields(request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(s.message()),
            "request has fields this control plane does not know (field numbers upstream.99, "
            "upstream.timeout.7): upgrade fwd-controlplane");

  // Bytes from a newer client: field 100, varint 1 appended after the known fields.
  fwd::v1::GetUpstreamRequest get;
  get.set_name("a");
  std::string wire = get.SerializeAsString() + std::string("\xa0\x06\x01", 3);
  fwd::v1::GetUpstreamRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(wire));
  EXPECT_EQ(std::string(checkNoUnknownFields(parsed).message()),
            "request has fields this control plane does not know (field numbers 100): upgrade "
            "fwd-controlplane");
}

TEST(ValidateTest, KeyRequestsNeedNameAndValidPatterns) {
  // CreateKey checks the name rules and each model pattern.
  fwd::v1::CreateKeyRequest request;
  request.set_name("team-a");
  request.add_models("gpt-*");
  EXPECT_TRUE(normalizeCreateKey(request).ok());
  request.add_models("");
  EXPECT_EQ(std::string(normalizeCreateKey(request).message()),
            "models[1] \"\": not a valid pattern: use 1 to 256 printable ASCII characters without "
            "spaces, '*' matches any run of characters");
  request.clear_models();
  request.set_name("Team A");
  EXPECT_EQ(normalizeCreateKey(request).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ValidateTest, IpBlocksAreStoredCanonicalAndBadOnesNamed) {
  // Rules and key lists take blocks or addresses, stored canonical; a bad block, a duplicate or
  // a rule without action is INVALID_ARGUMENT saying which.
  fwd::v1::IpRule rule;
  rule.set_cidr("2001:DB8::/32");
  rule.set_action(fwd::v1::IpRule::ACTION_DENY);
  ASSERT_TRUE(normalizeIpRule(rule).ok());
  EXPECT_EQ(rule.cidr(), "2001:db8::/32");
  rule.set_cidr("10.0.0.1/8");
  EXPECT_EQ(std::string(normalizeIpRule(rule).message()),
            "rule.cidr \"10.0.0.1/8\": host bits are set; the block is 10.0.0.0/8");
  rule.set_cidr("10.0.0.0/8");
  rule.set_action(fwd::v1::IpRule::ACTION_UNSPECIFIED);
  EXPECT_EQ(std::string(normalizeIpRule(rule).message()),
            "rule.action: must be allow, deny or trust");

  fwd::v1::CreateKeyRequest key;
  key.set_name("office");
  key.add_allow_ips("192.168.1.7");
  key.add_deny_ips("::ffff:10.0.0.0/104");
  ASSERT_TRUE(normalizeCreateKey(key).ok());
  EXPECT_EQ(key.allow_ips(0), "192.168.1.7/32");
  EXPECT_EQ(key.deny_ips(0), "10.0.0.0/8");
  key.add_allow_ips("192.168.1.7/32");
  EXPECT_EQ(std::string(normalizeCreateKey(key).message()),
            "allow_ips[1] 192.168.1.7/32 is listed twice");
  key.set_allow_ips(1, "300.1.1.1");
  EXPECT_EQ(std::string(normalizeCreateKey(key).message()),
            "allow_ips[1] \"300.1.1.1\" is not an IP address or CIDR block (e.g. 10.0.0.0/8, "
            "192.168.1.7, 2001:db8::/32)");
}

TEST(ValidateTest, SettingsHaveKnownNamesAndValues) {
  // A setting must exist and take its value (booleans in any case, stored lower case); stored
  // pairs become the Settings message, unknown names from a newer build ignored.
  auto ok = checkSetting("errors_as_200", "TRUE");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, "true");
  EXPECT_EQ(std::string(checkSetting("errors_as_201", "true").status().message()),
            "no setting named \"errors_as_201\"; the settings are: errors_as_200, default_rate, "
            "default_rate_strategy, default_max_parallel, default_tpm, default_tokens, "
            "default_budget_usd, default_budget_tokens, default_stream_pace, redis_down, "
            "redis_url, redis_url_env");
  EXPECT_EQ(std::string(checkSetting("errors_as_200", "yes").status().message()),
            "setting errors_as_200: \"yes\" is not true or false");
  fwd::v1::Settings settings;
  applySettings({{"errors_as_200", "true"}, {"from_the_future", "1"}}, settings);
  EXPECT_TRUE(settings.errors_as_200());
  auto known = knownSettings();
  ASSERT_EQ(known.size(), 12u);
  EXPECT_EQ(checkSetting("default_stream_pace", "3000/minute").value(), "3000/minute");
  EXPECT_FALSE(checkSetting("default_stream_pace", "1/second;2/minute").ok());
  EXPECT_FALSE(checkSetting("default_stream_pace", "1000000/second").ok());
  EXPECT_EQ(known[0].default_value(), "false");
  // Budgets: stored canonical, each key gets its own.
  EXPECT_EQ(checkSetting("default_budget_usd", "$5/day; 100/month").value(), "5/day;100/month");
  EXPECT_EQ(std::string(checkSetting("default_budget_tokens", "1/week").status().message()),
            "setting default_budget_tokens: budget \"1/week\": unknown period \"week\": use "
            "day, month or total (a budget renews at 00:00 UTC each day, or on the 1st of each "
            "month; a total one never does)");
  fwd::v1::Settings budgets;
  applySettings({{"default_budget_usd", "5/day;100/month"}, {"default_budget_tokens", "7/total"}},
                budgets);
  ASSERT_EQ(budgets.default_limits().budget_usd_size(), 2);
  EXPECT_EQ(budgets.default_limits().budget_usd(1).amount(), 100'000'000u);
  EXPECT_EQ(budgets.default_limits().budget_tokens(0).period(), fwd::v1::BUDGET_PERIOD_TOTAL);
}

TEST(ValidateTest, PricesNeedAValidModelPatternAndBoundedAmounts) {
  fwd::v1::Price p;
  p.set_model("gpt-4o-*");
  p.set_input_usd_micros(2'500'000);
  p.set_output_usd_micros(10'000'000);
  p.set_id(9);
  EXPECT_TRUE(normalizePrice(p).ok());
  EXPECT_EQ(p.id(), 0u);
  p.set_model("gpt 4o");
  EXPECT_EQ(std::string(normalizePrice(p).message()),
            "price.model \"gpt 4o\": not a valid model name or pattern: use 1 to 256 printable "
            "ASCII characters without spaces, '*' matches any run of characters");
  p.set_model("");
  EXPECT_FALSE(normalizePrice(p).ok());
  p.set_model("gpt-4o");
  p.set_cached_input_usd_micros(kMaxPriceMicros + 1);
  EXPECT_EQ(std::string(normalizePrice(p).message()),
            "price.cached_input_usd_micros 1000000000001: at most 1000000000000 (US$1,000,000 "
            "per 1M tokens)");
}

TEST(ValidateTest, RedisSettingsAreCheckedAndTheUrlsPasswordIsNeverShown) {
  EXPECT_EQ(checkSetting("redis_url", "redis://:s3cret@10.0.0.5:6380/2").value(),
            "redis://:s3cret@10.0.0.5:6380/2");
  EXPECT_EQ(displaySetting("redis_url", "redis://:s3cret@10.0.0.5:6380/2"),
            "redis://:***@10.0.0.5:6380/2");
  EXPECT_EQ(displaySetting("redis_url", "redis://fwd:s3cret@h/0"), "redis://fwd:***@h/0");
  EXPECT_EQ(displaySetting("redis_url", "redis://h:6379"), "redis://h:6379");
  EXPECT_EQ(checkSetting("redis_url", "none").value(), "");
  std::string bad(checkSetting("redis_url", "http://:s3cret@h").status().message());
  EXPECT_EQ(bad,
            "setting redis_url: redis URL: expected redis://[[user]:password@]host[:port][/db], "
            "e.g. redis://127.0.0.1:6379/0");
  EXPECT_EQ(std::string(checkSetting("redis_url", "redis://:pw@h/x").status().message()),
            "setting redis_url: redis URL: the path must be a database number, /0");
  EXPECT_EQ(checkSetting("redis_url_env", "FWD_REDIS_URL").value(), "FWD_REDIS_URL");
  EXPECT_EQ(std::string(checkSetting("redis_url_env", "1X").status().message()),
            "setting redis_url_env: \"1X\" is not an environment variable name (letters, digits "
            "and _, not starting with a digit)");
  EXPECT_EQ(checkSetting("redis_down", "fail-closed").value(), "fail-closed");
  EXPECT_EQ(std::string(checkSetting("redis_down", "panic").status().message()),
            "setting redis_down: invalid Redis-down mode \"panic\": expected fail-open or "
            "fail-closed");
  fwd::v1::Settings settings;
  applySettings({{"redis_url", "redis://h:1/0"},
                 {"redis_url_env", "FWD_REDIS_URL"},
                 {"redis_down", "fail-closed"}},
                settings);
  EXPECT_EQ(settings.redis_url(), "redis://h:1/0");
  EXPECT_EQ(settings.redis_url_env(), "FWD_REDIS_URL");
  EXPECT_EQ(settings.default_limits().redis_down(), fwd::v1::REDIS_DOWN_FAIL_CLOSED);
}

TEST(ValidateTest, DefaultLimitSettingsTakeTheKeysSyntax) {
  // Default limits are stored in canonical form ("" unsets) and land in default_limits.
  EXPECT_EQ(checkSetting("default_rate", "600/hour; 60/60seconds").value(), "600/hour;60/minute");
  EXPECT_EQ(checkSetting("default_rate", "none").value(), "");
  EXPECT_EQ(std::string(checkSetting("default_rate", "10/fortnight").status().message()),
            "setting default_rate: invalid rate \"10/fortnight\": expected COUNT/[N]UNIT such as "
            "60/minute or 100/2minutes, UNIT one of second, minute, hour, day; several joined by "
            "';'");
  EXPECT_EQ(std::string(checkSetting("default_rate", "2000000000/second").status().message()),
            "default_rate.rate[0]: count 2000000000 must be 1..1000000000 requests");
  EXPECT_EQ(checkSetting("default_rate_strategy", "moving-window").value(), "sliding-window");
  EXPECT_FALSE(checkSetting("default_rate_strategy", "leaky-bucket").ok());
  EXPECT_EQ(checkSetting("default_max_parallel", "8").value(), "8");
  EXPECT_EQ(std::string(checkSetting("default_max_parallel", "-1").status().message()),
            "setting default_max_parallel: \"-1\" is not a whole number from 0 (none) to 100000");
  fwd::v1::Settings settings;
  applySettings({{"default_rate", "60/minute;600/hour"},
                 {"default_rate_strategy", "sliding-window"},
                 {"default_max_parallel", "8"},
                 {"default_tpm", "5000"},
                 {"default_tokens", "100000/day"}},
                settings);
  EXPECT_EQ(settings.default_limits().tpm(), 5000u);
  EXPECT_EQ(settings.default_limits().tokens(0).count(), 100000u);
  EXPECT_EQ(std::string(checkSetting("default_tokens", "0/day").status().message()),
            "setting default_tokens: invalid rate \"0/day\": the count must be 1 to "
            "1000000000000");
  const fwd::v1::Limits& d = settings.default_limits();
  ASSERT_EQ(d.rate_size(), 2);
  EXPECT_EQ(d.rate(0).count(), 60u);
  EXPECT_EQ(d.rate(0).seconds(), 60u);
  EXPECT_EQ(d.rate(1).seconds(), 3600u);
  EXPECT_EQ(d.rate_strategy(), fwd::v1::RATE_STRATEGY_SLIDING_WINDOW);
  EXPECT_EQ(d.max_parallel(), 8u);
  fwd::v1::Settings unset;
  applySettings({{"default_rate", ""}, {"default_max_parallel", "0"}}, unset);
  EXPECT_FALSE(unset.has_default_limits());
}

TEST(ValidateTest, KeyLimitsAreBounded) {
  fwd::v1::Limits limits;
  auto* w = limits.add_rate();
  w->set_count(60);
  w->set_seconds(60);
  EXPECT_TRUE(checkLimits("limits", limits).ok());
  auto* twice = limits.add_rate();
  twice->set_count(70);
  twice->set_seconds(60);
  EXPECT_EQ(std::string(checkLimits("limits", limits).message()),
            "limits.rate[1]: a window of 60 seconds is given twice");
  twice->set_seconds(0);
  EXPECT_EQ(std::string(checkLimits("limits", limits).message()),
            "limits.rate[1]: window of 0 seconds must be 1 second..366 days");
  limits.mutable_rate()->RemoveLast();
  limits.set_max_parallel(100001);
  EXPECT_EQ(std::string(checkLimits("key.limits", limits).message()),
            "key.limits.max_parallel 100001: at most 100000");
  limits.set_max_parallel(4);
  limits.set_rate_strategy(static_cast<fwd::v1::RateStrategy>(9));
  EXPECT_EQ(std::string(checkLimits("limits", limits).message()),
            "limits.rate_strategy: unknown value 9");
  limits.set_rate_strategy(fwd::v1::RATE_STRATEGY_FIXED_WINDOW);
  limits.set_redis_down(static_cast<fwd::v1::RedisDown>(7));
  EXPECT_EQ(std::string(checkLimits("limits", limits).message()),
            "limits.redis_down: unknown value 7");
  limits.set_redis_down(fwd::v1::REDIS_DOWN_FAIL_CLOSED);
  limits.set_tpm(1000);
  auto* minute = limits.add_tokens();
  minute->set_count(10);
  minute->set_seconds(60);
  EXPECT_EQ(std::string(checkLimits("limits", limits).message()),
            "limits.tokens[0]: a one-minute window and tpm both limit tokens per minute; keep one");
  minute->set_seconds(86400);
  EXPECT_TRUE(checkLimits("limits", limits).ok());
  limits.set_tpm(2'000'000'000'000);
  EXPECT_EQ(std::string(checkLimits("limits", limits).message()),
            "limits.tpm 2000000000000: at most 1000000000000 tokens per minute");
  limits.set_tpm(100);
  // Budgets: a known period, once each, a bounded amount.
  fwd::v1::Budget* usd = limits.add_budget_usd();
  usd->set_amount(10'000'000);
  EXPECT_EQ(std::string(checkLimits("limits", limits).message()),
            "limits.budget_usd[0]: period must be day, month or total");
  usd->set_period(fwd::v1::BUDGET_PERIOD_MONTH);
  EXPECT_TRUE(checkLimits("limits", limits).ok());
  *limits.add_budget_usd() = *usd;
  EXPECT_EQ(std::string(checkLimits("limits", limits).message()),
            "limits.budget_usd[1]: a second budget for the same period");
  limits.mutable_budget_usd()->RemoveLast();
  fwd::v1::Budget* tokens = limits.add_budget_tokens();
  tokens->set_period(fwd::v1::BUDGET_PERIOD_TOTAL);
  EXPECT_EQ(std::string(checkLimits("limits", limits).message()),
            "limits.budget_tokens[0]: amount 0 must be 1..1000000000000000");
  tokens->set_amount(5);
  EXPECT_TRUE(checkLimits("limits", limits).ok());

  // A key update sets one limit at a time and checks the result.
  fwd::v1::Key target;
  *target.mutable_limits()->add_rate() = *w;
  fwd::v1::Key patch;
  patch.mutable_limits()->set_max_parallel(2);
  google::protobuf::FieldMask mask;
  mask.add_paths("limits.max_parallel");
  ASSERT_TRUE(applyKeyMask(patch, mask, target).ok());
  EXPECT_EQ(target.limits().rate_size(), 1);
  EXPECT_EQ(target.limits().max_parallel(), 2u);
  mask.set_paths(0, "limits.rate");
  ASSERT_TRUE(applyKeyMask(patch, mask, target).ok());
  EXPECT_EQ(target.limits().rate_size(), 0);
  EXPECT_EQ(target.limits().max_parallel(), 2u);
}

TEST(ValidateTest, KeyUpdatesNameTheirFieldsAndRotationsABoundedGrace) {
  // An update names models (checked as patterns); a rotation's grace is 0..720h.
  google::protobuf::FieldMask mask;
  EXPECT_EQ(std::string(checkKeyMask(mask).message()),
            "nothing to update: update_mask names no field (use models, errors_as_200, allow_ips, "
            "deny_ips, log_bodies, limits, limits.rate, limits.rate_strategy, limits.max_parallel, "
            "limits.tpm, limits.tokens, limits.redis_down, limits.budget_usd, "
            "limits.budget_tokens, limits.stream_pace)");
  mask.add_paths("name");
  EXPECT_EQ(std::string(checkKeyMask(mask).message()),
            "update_mask: \"name\" is not an updatable key field (use models, errors_as_200, "
            "allow_ips, deny_ips, log_bodies, limits, limits.rate, limits.rate_strategy, "
            "limits.max_parallel, limits.tpm, limits.tokens, limits.redis_down, "
            "limits.budget_usd, limits.budget_tokens, limits.stream_pace)");
  mask.set_paths(0, "models");
  EXPECT_TRUE(checkKeyMask(mask).ok());
  {
    fwd::v1::Key patch;
    patch.set_log_bodies(true);
    google::protobuf::FieldMask bodies;
    bodies.add_paths("log_bodies");
    fwd::v1::Key target;
    ASSERT_TRUE(applyKeyMask(patch, bodies, target).ok());
    EXPECT_TRUE(target.log_bodies());
  }
  fwd::v1::Key patch;
  patch.add_models("bad pattern");
  fwd::v1::Key target;
  EXPECT_EQ(applyKeyMask(patch, mask, target).code(), absl::StatusCode::kInvalidArgument);

  fwd::v1::RotateKeyRequest rotate;
  rotate.set_name("team-a");
  EXPECT_TRUE(checkRotateKey(rotate).ok());
  rotate.mutable_grace()->set_seconds(720 * 3600);
  EXPECT_TRUE(checkRotateKey(rotate).ok());
  rotate.mutable_grace()->set_nanos(1);
  EXPECT_EQ(std::string(checkRotateKey(rotate).message()), "grace: at most 720h (30 days)");
  rotate.mutable_grace()->set_seconds(-1);
  rotate.mutable_grace()->set_nanos(0);
  EXPECT_EQ(std::string(checkRotateKey(rotate).message()),
            "grace: must be a non-negative duration");
}

}  // namespace
}  // namespace fwd::controlplane::validate

namespace fwd::controlplane::validate {
namespace {

fwd::v1::Route baseRoute() {
  fwd::v1::Route r;
  r.set_name("local");
  r.set_path_prefix("/localai");
  r.add_upstreams("ollama");
  return r;
}

struct BadRouteCase {
  const char* what;
  std::function<void(fwd::v1::Route&)> edit;
  const char* message;
};

TEST(ValidateRouteTest, RejectsBadRoutesWithPreciseMessages) {
  // Each broken route field yields INVALID_ARGUMENT naming the field and the value.
  constexpr char kPrefixShape[] =
      "must be empty or /segment[/segment...] of letters, digits, '.', '_' and '-', with no "
      "trailing '/', e.g. /localai";
  const std::string no_slash = std::string("route.path_prefix \"localai\": ") + kPrefixShape;
  const std::string trailing = std::string("route.path_prefix \"/localai/\": ") + kPrefixShape;
  const std::string empty_seg = std::string("route.path_prefix \"/a//b\": ") + kPrefixShape;
  const std::string bad_char = std::string("route.path_prefix \"/a b\": ") + kPrefixShape;
  const std::vector<BadRouteCase> cases = {
      {"uppercase name", [](auto& r) { r.set_name("Local"); },
       "route.name \"Local\": must be 1 to 63 lowercase letters, digits, '.', '_' or '-', "
       "starting with a letter or digit"},
      {"prefix without slash", [](auto& r) { r.set_path_prefix("localai"); }, no_slash.c_str()},
      {"trailing slash", [](auto& r) { r.set_path_prefix("/localai/"); }, trailing.c_str()},
      {"root", [](auto& r) { r.set_path_prefix("/"); }, nullptr},
      {"empty segment", [](auto& r) { r.set_path_prefix("/a//b"); }, empty_seg.c_str()},
      {"space", [](auto& r) { r.set_path_prefix("/a b"); }, bad_char.c_str()},
      {"dot dot", [](auto& r) { r.set_path_prefix("/a/.."); }, nullptr},
      {"v1", [](auto& r) { r.set_path_prefix("/v1"); },
       "route.path_prefix \"/v1\": must not be /v1 or start with /v1/: the prefix comes before "
       "the API's own /v1 (requests to <prefix>/v1/... match)"},
      {"under v1", [](auto& r) { r.set_path_prefix("/v1/chat"); }, nullptr},
      {"too long", [](auto& r) { r.set_path_prefix("/" + std::string(256, 'a')); }, nullptr},
      {"empty match", [](auto& r) { r.add_models(); },
       "route.models[0] is empty: set one of exact, keyword or glob"},
      {"exact with space", [](auto& r) { r.add_models()->set_exact("gpt 4"); },
       "route.models[0].exact \"gpt 4\": use 1 to 256 printable ASCII characters without "
       "spaces"},
      {"empty keyword",
       [](auto& r) {
         r.add_models()->set_exact("gpt-4o");
         r.add_models()->set_keyword("");
       },
       "route.models[1].keyword \"\": use 1 to 256 printable ASCII characters without spaces"},
      {"bad glob", [](auto& r) { r.add_models()->set_glob("a\tb*"); },
       "route.models[0].glob \"a\\x09b*\": not a valid pattern: use 1 to 256 printable ASCII "
       "characters without spaces, '*' matches any run of characters"},
      {"captures everything", [](auto& r) { r.clear_path_prefix(); },
       "route \"local\" needs a path_prefix or at least one model match: without either it "
       "would capture every request"},
      {"no upstream", [](auto& r) { r.clear_upstreams(); },
       "route.upstreams is empty: a route needs at least one upstream"},
      {"bad upstream name", [](auto& r) { r.add_upstreams("Bad"); },
       "route.upstreams[1] \"Bad\": must be 1 to 63 lowercase letters, digits, '.', '_' or '-', "
       "starting with a letter or digit"},
      {"duplicate upstream", [](auto& r) { r.add_upstreams("ollama"); },
       "route.upstreams[1] \"ollama\": listed twice (it is already route.upstreams[0])"},
      {"unknown strategy",
       [](auto& r) { r.set_strategy(static_cast<fwd::v1::BalanceStrategy>(9)); },
       "route.strategy 9: not a known strategy (use ORDERED, WEIGHTED, LEAST_BUSY or LATENCY)"},
      {"empty fallback", [](auto& r) { r.add_fallback_models(""); },
       "route.fallback_models[0] \"\": use 1 to 256 printable ASCII characters without spaces"},
      {"duplicate fallback",
       [](auto& r) {
         r.add_fallback_models("a");
         r.add_fallback_models("a");
       },
       "route.fallback_models[1] \"a\": listed twice (it is already route.fallback_models[0])"},
      {"fallback to itself",
       [](auto& r) {
         r.add_models()->set_exact("gpt-4o");
         r.add_fallback_models("gpt-4o");
       },
       "route.fallback_models[0] \"gpt-4o\": is also an exact model of this route: falling back "
       "to it would retry the same model"},
      {"rewrite with space", [](auto& r) { r.set_rewrite_model("a b"); },
       "route.rewrite_model \"a b\": use 1 to 256 printable ASCII characters without spaces"},
      {"too many retries", [](auto& r) { r.mutable_retry()->set_retries(11); },
       "route.retry.retries 11: must be 0..10"},
      {"unspecified retry_on",
       [](auto& r) { r.mutable_retry()->add_retry_on(fwd::v1::RETRY_ON_UNSPECIFIED); },
       "route.retry.retry_on[0] 0: not a known condition (use 5XX, 429, CONNECT or TIMEOUT)"},
      {"unknown retry_on",
       [](auto& r) { r.mutable_retry()->add_retry_on(static_cast<fwd::v1::RetryOn>(42)); },
       "route.retry.retry_on[0] 42: not a known condition (use 5XX, 429, CONNECT or TIMEOUT)"},
      {"duplicate retry_on",
       [](auto& r) {
         r.mutable_retry()->add_retry_on(fwd::v1::RETRY_ON_429);
         r.mutable_retry()->add_retry_on(fwd::v1::RETRY_ON_429);
       },
       "route.retry.retry_on[1] RETRY_ON_429: listed twice"},
      {"priority", [](auto& r) { r.set_priority(1001); },
       "route.priority 1001: must be -1000..1000 (lower is matched first)"},
  };
  for (const BadRouteCase& c : cases) {
    fwd::v1::Route r = baseRoute();
    c.edit(r);
    absl::Status s = normalizeRoute(r);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.what;
    if (c.message != nullptr) {
      EXPECT_EQ(std::string(s.message()), c.message) << c.what;
    }
  }
}

TEST(ValidateRouteTest, AcceptsGoodRoutesAndDefaultsTheStrategy) {
  // Prefix-only and model-only routes pass; an unset strategy is stored as ORDERED.
  fwd::v1::Route prefix_only = baseRoute();
  prefix_only.set_path_prefix("/team-a/local_ai.v2");
  ASSERT_TRUE(normalizeRoute(prefix_only).ok());
  EXPECT_EQ(prefix_only.strategy(), fwd::v1::BALANCE_STRATEGY_ORDERED);

  fwd::v1::Route models_only = baseRoute();
  models_only.clear_path_prefix();
  models_only.add_models()->set_exact("gpt-4o");
  models_only.add_models()->set_keyword("llama");
  models_only.add_models()->set_glob("qwen*");
  models_only.add_upstreams("vllm");
  models_only.set_strategy(fwd::v1::BALANCE_STRATEGY_LATENCY);
  models_only.add_fallback_models("gpt-4o-mini");
  models_only.set_rewrite_model("llama3.1:8b");
  models_only.mutable_retry()->set_retries(10);
  models_only.mutable_retry()->add_retry_on(fwd::v1::RETRY_ON_5XX);
  models_only.mutable_retry()->add_retry_on(fwd::v1::RETRY_ON_TIMEOUT);
  models_only.set_priority(-1000);
  absl::Status s = normalizeRoute(models_only);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(models_only.strategy(), fwd::v1::BALANCE_STRATEGY_LATENCY);

  fwd::v1::Route v1_lookalike = baseRoute();
  v1_lookalike.set_path_prefix("/v1beta");
  EXPECT_TRUE(normalizeRoute(v1_lookalike).ok());
}

TEST(ValidateRouteTest, RouteMaskPathsAreCheckedAndApplied) {
  // Only the documented paths are accepted; each replaces exactly its field.
  google::protobuf::FieldMask empty;
  constexpr char kPaths[] =
      "path_prefix, models, upstreams, strategy, fallback_models, rewrite_model, limits, "
      "limits.rate, limits.rate_strategy, limits.max_parallel, limits.tpm, limits.tokens, "
      "limits_shared, log_bodies, retry, "
      "retry.retries, retry.retry_on, retry.backoff_base, retry.backoff_max, priority, timeouts, "
      "timeouts.connect, timeouts.first_byte, timeouts.stream_first_byte, timeouts.idle, "
      "timeouts.total, edits, edits.max_tokens_cap, edits.stop, edits.drop_empty_messages, "
      "edits.strip_think, edits.answer_prefix, edits.stream_mode";
  EXPECT_EQ(std::string(checkRouteMask(empty).message()),
            std::string("nothing to update: update_mask names no field (use ") + kPaths + ")");
  google::protobuf::FieldMask bad;
  bad.add_paths("name");
  EXPECT_EQ(
      std::string(checkRouteMask(bad).message()),
      std::string("update_mask path \"name\": not an updatable route field (use ") + kPaths + ")");

  fwd::v1::Route target = baseRoute();
  target.mutable_retry()->set_retries(3);
  target.set_priority(7);
  fwd::v1::Route patch;
  patch.add_upstreams("a");
  patch.add_upstreams("b");
  patch.set_priority(99);
  google::protobuf::FieldMask mask;
  mask.add_paths("upstreams");
  mask.add_paths("retry");
  ASSERT_TRUE(checkRouteMask(mask).ok());
  ASSERT_TRUE(applyRouteMask(patch, mask, target).ok());
  EXPECT_EQ(target.upstreams_size(), 2);
  EXPECT_FALSE(target.has_retry());
  EXPECT_EQ(target.priority(), 7);
  EXPECT_EQ(target.path_prefix(), "/localai");

  // A sub-path replaces one part of the policy and keeps the other.
  target.mutable_retry()->set_retries(3);
  target.mutable_retry()->add_retry_on(fwd::v1::RETRY_ON_5XX);
  patch.mutable_retry()->set_retries(5);
  google::protobuf::FieldMask retries_only;
  retries_only.add_paths("retry.retries");
  ASSERT_TRUE(applyRouteMask(patch, retries_only, target).ok());
  EXPECT_EQ(target.retry().retries(), 5u);
  EXPECT_EQ(target.retry().retry_on_size(), 1);

  patch.set_log_bodies(true);
  google::protobuf::FieldMask bodies;
  bodies.add_paths("log_bodies");
  ASSERT_TRUE(applyRouteMask(patch, bodies, target).ok());
  EXPECT_TRUE(target.log_bodies());
  EXPECT_EQ(target.retry().retries(), 5u);
}

TEST(ValidateRouteTest, RejectsBadRouteTimeoutsAndBackoff) {
  // Route timeout overrides and retry backoff name the field and what it conflicts with.
  const std::vector<BadRouteCase> cases = {
      {"zero total", [](auto& r) { *r.mutable_timeouts()->mutable_total() = seconds(0); },
       "route.timeouts.total 0s: must be at least 1ms and at most 1h (unset means the "
       "upstream's, for each upstream of the group)"},
      {"long connect", [](auto& r) { *r.mutable_timeouts()->mutable_connect() = seconds(7200); },
       "route.timeouts.connect 2h: must be at least 1ms and at most 1h (unset means the "
       "upstream's, for each upstream of the group)"},
      {"first byte over total",
       [](auto& r) {
         *r.mutable_timeouts()->mutable_total() = seconds(30);
         *r.mutable_timeouts()->mutable_first_byte() = seconds(60);
       },
       "route.timeouts.first_byte 1m: must not be longer than route.timeouts.total (30s)"},
      {"stream first byte over total",
       [](auto& r) {
         *r.mutable_timeouts()->mutable_total() = seconds(30);
         *r.mutable_timeouts()->mutable_stream_first_byte() = seconds(31);
       },
       "route.timeouts.stream_first_byte 31s: must not be longer than route.timeouts.total "
       "(30s)"},
      {"idle over total",
       [](auto& r) {
         *r.mutable_timeouts()->mutable_total() = seconds(10);
         *r.mutable_timeouts()->mutable_idle() = seconds(11);
       },
       "route.timeouts.idle 11s: must not be longer than route.timeouts.total (10s)"},
      {"zero backoff", [](auto& r) { *r.mutable_retry()->mutable_backoff_base() = seconds(0); },
       "route.retry.backoff_base 0s: must be at least 1ms and at most 1h (unset means 25ms)"},
      {"base over max",
       [](auto& r) {
         *r.mutable_retry()->mutable_backoff_base() = seconds(2);
         *r.mutable_retry()->mutable_backoff_max() = seconds(1);
       },
       "route.retry.backoff_base 2s: must not be longer than route.retry.backoff_max (1s)"},
      {"base over default max",
       [](auto& r) { *r.mutable_retry()->mutable_backoff_base() = seconds(2); },
       "route.retry.backoff_base 2s: must not be longer than route.retry.backoff_max (1s, the "
       "default)"},
      {"max under default base",
       [](auto& r) { *r.mutable_retry()->mutable_backoff_max() = seconds(0, 10'000'000); },
       "route.retry.backoff_max 10ms: must not be shorter than route.retry.backoff_base (25ms, "
       "the default)"},
  };
  for (const BadRouteCase& c : cases) {
    fwd::v1::Route r = baseRoute();
    c.edit(r);
    absl::Status s = normalizeRoute(r);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.what;
    if (c.message != nullptr) {
      EXPECT_EQ(std::string(s.message()), c.message) << c.what;
    }
  }

  // Overrides without a total are not compared with the upstreams' (each has its own), and an
  // explicit policy of 0 retries is valid.
  fwd::v1::Route ok = baseRoute();
  *ok.mutable_timeouts()->mutable_first_byte() = seconds(3000);
  *ok.mutable_timeouts()->mutable_total() = seconds(3000);
  *ok.mutable_timeouts()->mutable_idle() = seconds(3000);
  ok.mutable_retry()->set_retries(0);
  *ok.mutable_retry()->mutable_backoff_base() = seconds(1);
  *ok.mutable_retry()->mutable_backoff_max() = seconds(1);
  absl::Status s = normalizeRoute(ok);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_TRUE(ok.has_retry());
}

TEST(ValidateRouteTest, PatchingPartOfAMissingRetryPolicyIsRefused) {
  // retry_on or backoff alone on a route without a policy would create one with 0 retries and
  // silently turn failover off; with retries too (or on a route that has a policy) it is fine.
  fwd::v1::Route target = baseRoute();
  target.clear_retry();
  fwd::v1::Route patch;
  patch.mutable_retry()->add_retry_on(fwd::v1::RETRY_ON_429);
  patch.mutable_retry()->set_retries(2);
  google::protobuf::FieldMask retry_on;
  retry_on.add_paths("retry.retry_on");
  ASSERT_TRUE(checkRouteMask(retry_on).ok());
  absl::Status refused = applyRouteMask(patch, retry_on, target);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(std::string(refused.message()),
            "route local has no retry policy: set its retries too (fwdctl route update ... "
            "--retries N), or a policy with 0 retries would turn failover off");
  EXPECT_FALSE(target.has_retry());
  google::protobuf::FieldMask both = retry_on;
  both.add_paths("retry.retries");
  ASSERT_TRUE(applyRouteMask(patch, both, target).ok());
  EXPECT_EQ(target.retry().retries(), 2u);
  ASSERT_TRUE(applyRouteMask(patch, retry_on, target).ok());
}

TEST(ValidateRouteTest, TimeoutAndBackoffMaskPathsCarryPresence) {
  // "timeouts.<field>" and "retry.backoff_*" change one field and create their message;
  // "timeouts" with no overrides in the patch removes them all.
  fwd::v1::Route target = baseRoute();
  target.mutable_retry()->set_retries(2);
  fwd::v1::Route patch;
  *patch.mutable_timeouts()->mutable_total() = seconds(30);
  *patch.mutable_timeouts()->mutable_connect() = seconds(1);
  *patch.mutable_retry()->mutable_backoff_base() = seconds(0, 100'000'000);
  google::protobuf::FieldMask mask;
  mask.add_paths("timeouts.total");
  mask.add_paths("retry.backoff_base");
  ASSERT_TRUE(checkRouteMask(mask).ok());
  ASSERT_TRUE(applyRouteMask(patch, mask, target).ok());
  EXPECT_EQ(target.timeouts().total().seconds(), 30);
  EXPECT_FALSE(target.timeouts().has_connect());
  EXPECT_TRUE(target.has_retry());
  EXPECT_EQ(target.retry().backoff_base().nanos(), 100'000'000);
  EXPECT_FALSE(target.retry().has_backoff_max());

  google::protobuf::FieldMask clear;
  clear.add_paths("timeouts");
  clear.add_paths("retry.backoff_base");
  ASSERT_TRUE(applyRouteMask(fwd::v1::Route(), clear, target).ok());
  EXPECT_FALSE(target.has_timeouts());
  EXPECT_FALSE(target.retry().has_backoff_base());
}

TEST(ValidateRouteTest, UnknownFieldsInRoutesAreFound) {
  // A newer fwdctl's route field, nested in a model match, is reported with its path.
  fwd::v1::CreateRouteRequest request;
  *request.mutable_route() = baseRoute();
  addUnknownVarint(*request.mutable_route()->add_models(), 9);
  absl::Status s = checkNoUnknownFields(request);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(s.message()),
            "request has fields this control plane does not know (field numbers "
            "route.models[0].9): upgrade fwd-controlplane");
}

TEST(ValidateEditsTest, BadEditsAreRefusedNamingTheField) {
  struct Case {
    std::function<void(fwd::v1::Edits&)> edit;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](auto& e) { e.set_max_tokens_cap(0); },
       "upstream.edits.max_tokens_cap 0: must be 1..1000000 (the most tokens an answer may ask "
       "for)"},
      {[](auto& e) { e.set_max_tokens_cap(1000001); },
       "upstream.edits.max_tokens_cap 1000001: must be 1..1000000 (the most tokens an answer may "
       "ask for)"},
      {[](auto& e) {
         for (const char* w : {"a", "b", "c", "d", "e"}) {
           e.add_stop(w);
         }
       },
       "upstream.edits.stop: at most 4 words (OpenAI refuses more stop sequences), got 5"},
      {[](auto& e) { e.add_stop(""); },
       "upstream.edits.stop \"\": a stop word must be 1..256 bytes"},
      {[](auto& e) { e.add_stop(std::string(257, 'x')); },
       "upstream.edits.stop \"" + std::string(120, 'x') +
           "...\": a stop word must be 1..256 bytes"},
      {[](auto& e) {
         e.add_stop("end");
         e.add_stop("end");
       },
       "upstream.edits.stop \"end\": given twice"},
      {[](auto& e) { e.set_answer_prefix(std::string(4097, 'p')); },
       "upstream.edits.answer_prefix: 4097 bytes, at most 4096 allowed"},
      {[](auto& e) { e.set_stream_mode(fwd::v1::STREAM_MODE_UNSPECIFIED); },
       "upstream.edits.stream_mode 0: must be passthrough, stream or non-stream"},
      {[](auto& e) { e.set_stream_mode(static_cast<fwd::v1::StreamMode>(7)); },
       "upstream.edits.stream_mode 7: must be passthrough, stream or non-stream"},
  };
  for (const Case& c : cases) {
    fwd::v1::Upstream u = base();
    c.edit(*u.mutable_edits());
    absl::Status s = normalizeUpstream(u);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.message;
    EXPECT_EQ(std::string(s.message()), c.message);
  }
  fwd::v1::Route r = baseRoute();
  r.mutable_edits()->set_max_tokens_cap(0);
  EXPECT_EQ(std::string(normalizeRoute(r).message()),
            "route.edits.max_tokens_cap 0: must be 1..1000000 (the most tokens an answer may ask "
            "for)");

  fwd::v1::Upstream good = base();
  good.mutable_edits()->set_max_tokens_cap(1000000);
  good.mutable_edits()->add_stop("END");
  good.mutable_edits()->set_answer_prefix(std::string(4096, 'p'));
  good.mutable_edits()->set_answer_prefix("");
  good.mutable_edits()->set_stream_mode(fwd::v1::STREAM_MODE_NON_STREAM);
  EXPECT_TRUE(normalizeUpstream(good).ok());
}

TEST(ValidateEditsTest, EditsMaskPathsCarryPresence) {
  // "edits.<field>" changes that field alone (unset in the patch unsets it); "edits" replaces
  // them all.
  fwd::v1::Route target = baseRoute();
  target.mutable_edits()->set_max_tokens_cap(100);
  target.mutable_edits()->add_stop("A");
  target.mutable_edits()->set_strip_think(true);
  fwd::v1::Route patch;
  patch.mutable_edits()->set_drop_empty_messages(false);
  patch.mutable_edits()->set_answer_prefix(">");
  patch.mutable_edits()->set_stream_mode(fwd::v1::STREAM_MODE_STREAM);
  google::protobuf::FieldMask mask;
  for (const char* path : {"edits.max_tokens_cap", "edits.drop_empty_messages",
                           "edits.answer_prefix", "edits.stream_mode"}) {
    mask.add_paths(path);
  }
  ASSERT_TRUE(checkRouteMask(mask).ok());
  ASSERT_TRUE(applyRouteMask(patch, mask, target).ok());
  EXPECT_FALSE(target.edits().has_max_tokens_cap());
  EXPECT_EQ(target.edits().stop_size(), 1);
  EXPECT_TRUE(target.edits().strip_think());
  ASSERT_TRUE(target.edits().has_drop_empty_messages());
  EXPECT_FALSE(target.edits().drop_empty_messages());
  EXPECT_EQ(target.edits().answer_prefix(), ">");
  EXPECT_EQ(target.edits().stream_mode(), fwd::v1::STREAM_MODE_STREAM);

  google::protobuf::FieldMask whole;
  whole.add_paths("edits");
  ASSERT_TRUE(applyRouteMask(fwd::v1::Route(), whole, target).ok());
  EXPECT_FALSE(target.has_edits());

  fwd::v1::Upstream upstream = base();
  fwd::v1::Upstream upatch;
  upatch.mutable_edits()->add_stop("Z");
  google::protobuf::FieldMask stop;
  stop.add_paths("edits.stop");
  ASSERT_TRUE(applyUpstreamMask(upatch, stop, upstream).ok());
  EXPECT_EQ(upstream.edits().stop(0), "Z");
}

}  // namespace
}  // namespace fwd::controlplane::validate
