#include "dataplane/policy/chain.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "dataplane/pipeline/finish.h"
#include "tests/mocks/dataplane/policy/mock_policy.h"
#include "tests/unit/dataplane/test_request.h"

namespace fwd::dataplane::policy {
namespace {

using ::testing::_;
using ::testing::InSequence;
using ::testing::Return;
using ::testing::StrictMock;

// A slot that remembers which policy built it.
struct TaggedSlot : WorkerSlot {
  explicit TaggedSlot(int t) : tag(t) {}
  int tag;
};

// Hooks receive a real request context (on an idle worker).
class ChainTest : public ::testing::Test {
 protected:
  static std::shared_ptr<StrictMock<MockPolicy>> policy(unsigned hooks) {
    auto p = std::make_shared<StrictMock<MockPolicy>>();
    EXPECT_CALL(*p, hooks()).WillRepeatedly(Return(hooks));
    return p;
  }

  testing::TestRequest request_;
  pipeline::RequestContext& ctx_ = request_.ctx();
};

TEST_F(ChainTest, AnEmptyChainHasNoHooks) {
  // With no policy configured every call site is skipped: has() is false for each hook.
  Chain chain;
  EXPECT_TRUE(chain.empty());
  for (Hook h : {kOnClient, kOnKey, kOnRequest, kOnError, kOnFinish, kOnResponseHead}) {
    EXPECT_FALSE(chain.has(h)) << h;
  }
  EXPECT_TRUE(chain.makeWorkerSlots().empty());
}

TEST_F(ChainTest, HooksRunInChainOrderOnlyOnPoliciesThatHaveThem) {
  // A StrictMock fails on any call it does not expect: b has no onRequest and is never asked.
  auto a = policy(kOnRequest | kOnFinish);
  auto b = policy(kOnFinish);
  auto c = policy(kOnRequest);
  Chain chain({a, b, c});
  EXPECT_TRUE(chain.has(kOnRequest));
  EXPECT_TRUE(chain.has(kOnFinish));
  EXPECT_FALSE(chain.has(kOnClient));
  EXPECT_FALSE(chain.has(kOnError));
  Chain::Slots slots(3);
  {
    InSequence order;
    EXPECT_CALL(*a, onRequest(_, _)).WillOnce(Return(std::nullopt));
    EXPECT_CALL(*c, onRequest(_, _)).WillOnce(Return(std::nullopt));
    EXPECT_CALL(*a, onFinish(_, _));
    EXPECT_CALL(*b, onFinish(_, _));
  }
  EXPECT_FALSE(chain.onRequest(ctx_, slots).has_value());
  pipeline::RequestOutcome outcome;
  chain.onFinish(outcome, slots);
}

TEST_F(ChainTest, TheFirstRefusalEndsTheRequestAndLaterPoliciesAreNotAsked) {
  // a refuses with 403: its error is the answer, c is never called.
  auto a = policy(kOnKey);
  auto c = policy(kOnKey);
  Chain chain({a, c});
  Chain::Slots slots(2);
  EXPECT_CALL(*a, onKey(_, _))
      .WillOnce(Return(proxy::ApiError{403, "permission_error", "ip_not_allowed", "no", ""}));
  auto refused = chain.onKey(ctx_, slots);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 403);
  EXPECT_EQ(refused->code, "ip_not_allowed");
}

TEST_F(ChainTest, EachPolicyGetsItsOwnWorkerSlot) {
  // Slots are built per worker, one per policy, and each hook receives its own policy's slot.
  auto a = policy(kOnClient);
  auto b = policy(kOnClient);
  EXPECT_CALL(*a, makeWorkerSlot()).WillOnce([] { return std::make_unique<TaggedSlot>(1); });
  EXPECT_CALL(*b, makeWorkerSlot()).WillOnce([] { return std::make_unique<TaggedSlot>(2); });
  Chain chain({a, b});
  Chain::Slots slots = chain.makeWorkerSlots();
  ASSERT_EQ(slots.size(), 2u);
  EXPECT_CALL(*a, onClient(_, _)).WillOnce([](auto&, WorkerSlot* s) {
    EXPECT_EQ(static_cast<TaggedSlot*>(s)->tag, 1);
    return std::nullopt;
  });
  EXPECT_CALL(*b, onClient(_, _)).WillOnce([](auto&, WorkerSlot* s) {
    EXPECT_EQ(static_cast<TaggedSlot*>(s)->tag, 2);
    return std::nullopt;
  });
  EXPECT_FALSE(chain.onClient(ctx_, slots).has_value());
}

TEST_F(ChainTest, ErrorHooksAllSeeTheAnswerAndMayReshapeIt) {
  // Every kOnError policy runs, in order, on the same answer.
  auto a = policy(kOnError);
  auto b = policy(kOnError);
  Chain chain({a, b});
  Chain::Slots slots(2);
  proxy::ApiError error{401, "invalid_request_error", "invalid_api_key", "bad key", ""};
  ErrorAnswer answer{401, &error, false};
  {
    InSequence order;
    EXPECT_CALL(*a, onError(_, _, _)).WillOnce([](auto&, ErrorAnswer& ans, auto*) {
      ans.status = 200;
      ans.status_header = true;
    });
    EXPECT_CALL(*b, onError(_, _, _)).WillOnce([](auto&, ErrorAnswer& ans, auto*) {
      EXPECT_EQ(ans.status, 200);
    });
  }
  chain.onError(ctx_, answer, slots);
  EXPECT_EQ(answer.status, 200);
  EXPECT_TRUE(answer.status_header);
  EXPECT_EQ(answer.error->status, 401);
}

}  // namespace
}  // namespace fwd::dataplane::policy
