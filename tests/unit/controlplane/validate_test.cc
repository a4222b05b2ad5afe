// Validation rules of controlplane/validate: table-driven good and bad inputs with the exact
// messages operators see.
#include "controlplane/validate/validate.h"

#include <gtest/gtest.h>

#include <functional>

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
  for (const char* path : {"base_url", "api_key", "api_key_env", "models", "priority", "weight",
                           "timeout", "insecure_skip_verify"}) {
    google::protobuf::FieldMask one;
    one.add_paths(path);
    EXPECT_TRUE(checkUpstreamMask(one).ok()) << path;
  }
  for (const char* path : {"name", "id", "create_time", "api_key_hint", "Weight", ""}) {
    google::protobuf::FieldMask one;
    one.add_paths("weight");
    one.add_paths(path);
    absl::Status s = checkUpstreamMask(one);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << path;
    EXPECT_EQ(std::string(s.message()),
              "update_mask path \"" + std::string(path) +
                  "\": not an updatable upstream field (use base_url, api_key, api_key_env, "
                  "models, priority, weight, timeout, insecure_skip_verify)");
  }
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
  EXPECT_TRUE(checkCreateKey(request).ok());
  request.add_models("");
  EXPECT_EQ(std::string(checkCreateKey(request).message()),
            "models[1] \"\": not a valid pattern: use 1 to 256 printable ASCII characters without "
            "spaces, '*' matches any run of characters");
  request.clear_models();
  request.set_name("Team A");
  EXPECT_EQ(checkCreateKey(request).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace fwd::controlplane::validate
