#include "dataplane/compat/errors_as_200.h"

#include <gtest/gtest.h>

#include "tests/unit/dataplane/test_request.h"

namespace fwd::dataplane::compat {
namespace {

class ErrorsAs200Test : public ::testing::Test {
 protected:
  policy::ErrorAnswer errorAnswer(int status) {
    error_.status = status;
    return policy::ErrorAnswer{status, &error_, false};
  }

  testing::TestRequest request_;
  pipeline::RequestContext& ctx_ = request_.ctx();
  config::KeyEntry legacy_{"legacy", "fwd-abcd", {}, {}, true, {}, {}, 0, {}};
  config::KeyEntry plain_{"plain", "fwd-efgh", {}, {}, false, {}, {}, 0, {}};
  proxy::ApiError error_{0, "api_error", "upstream_error", "broken", ""};
};

TEST_F(ErrorsAs200Test, PerKeyItReshapesOnlyThatKeysErrors) {
  // Without the global setting: the legacy key's 403 becomes a 200 with x-fwd-status; the plain
  // key's and an unauthenticated request's errors keep their status.
  ErrorsAs200 policy(false);
  ctx_.key = &legacy_;
  auto answer = errorAnswer(403);
  policy.onError(ctx_, answer, nullptr);
  EXPECT_EQ(answer.status, 200);
  EXPECT_TRUE(answer.status_header);
  EXPECT_EQ(answer.error->status, 403);

  ctx_.key = &plain_;
  answer = errorAnswer(502);
  policy.onError(ctx_, answer, nullptr);
  EXPECT_EQ(answer.status, 502);
  EXPECT_FALSE(answer.status_header);

  ctx_.key = nullptr;
  answer = errorAnswer(401);
  policy.onError(ctx_, answer, nullptr);
  EXPECT_EQ(answer.status, 401);
}

TEST_F(ErrorsAs200Test, GloballyItCoversRequestsWithoutAKeyAndUpstreamErrorHeads) {
  // The global setting turns a 401 before authentication into a 200, and an upstream's 429 head
  // too; a 200 or a 3xx from the upstream stays as it is.
  ErrorsAs200 policy(true);
  auto answer = errorAnswer(401);
  policy.onError(ctx_, answer, nullptr);
  EXPECT_EQ(answer.status, 200);
  EXPECT_TRUE(answer.status_header);
  for (int status : {429, 404, 400}) {
    policy::ResponseHead head{status, status};
    policy.onResponseHead(ctx_, head, nullptr);
    EXPECT_EQ(head.send_status, 200) << status;
  }
  for (int status : {200, 302}) {
    policy::ResponseHead head{status, status};
    policy.onResponseHead(ctx_, head, nullptr);
    EXPECT_EQ(head.send_status, status);
  }
}

TEST_F(ErrorsAs200Test, TheSnapshotHasThePolicyOnlyWhenSomethingAsksForIt) {
  // No setting and no key with it: an empty chain (no policy code runs); a key or the setting
  // puts errors_as_200 on the chain with the error and response-head hooks.
  auto compile = [](const fwd::v1::Snapshot& s) {
    auto c = config::CompiledConfig::compile(s, [](const std::string&) { return std::nullopt; });
    EXPECT_TRUE(c.ok()) << c.status();
    return *c;
  };
  fwd::v1::Snapshot s;
  auto* k = s.add_keys();
  k->set_name("k");
  k->set_secret_sha256(std::string(64, 'a'));
  EXPECT_TRUE(compile(s)->policies().empty());
  k->set_errors_as_200(true);
  auto with_key = compile(s);
  ASSERT_EQ(with_key->policies().size(), 1u);
  EXPECT_EQ(with_key->policies().at(0).name(), "errors_as_200");
  EXPECT_TRUE(with_key->policies().has(policy::kOnError));
  EXPECT_TRUE(with_key->policies().has(policy::kOnResponseHead));
  EXPECT_FALSE(with_key->policies().has(policy::kOnRequest));
  k->set_errors_as_200(false);
  s.mutable_settings()->set_errors_as_200(true);
  EXPECT_EQ(compile(s)->policies().size(), 1u);
}

}  // namespace
}  // namespace fwd::dataplane::compat
