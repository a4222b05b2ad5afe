// gMock double of fwd::dataplane::policy::Policy, for tests of the chain and the pipeline's
// call sites.
#pragma once

#include <gmock/gmock.h>

#include "dataplane/policy/policy.h"

namespace fwd::dataplane::policy {

class MockPolicy : public Policy {
 public:
  MOCK_METHOD(std::string_view, name, (), (const, override));
  MOCK_METHOD(unsigned, hooks, (), (const, override));
  MOCK_METHOD(std::unique_ptr<WorkerSlot>, makeWorkerSlot, (), (const, override));
  MOCK_METHOD(std::optional<proxy::ApiError>, onClient,
              (pipeline::RequestContext & ctx, WorkerSlot* slot), (const, override));
  MOCK_METHOD(std::optional<proxy::ApiError>, onKey,
              (pipeline::RequestContext & ctx, WorkerSlot* slot), (const, override));
  MOCK_METHOD(std::optional<proxy::ApiError>, onRequest,
              (pipeline::RequestContext & ctx, WorkerSlot* slot), (const, override));
  MOCK_METHOD(void, onError,
              (const pipeline::RequestContext& ctx, ErrorAnswer& answer, WorkerSlot* slot),
              (const, override));
  MOCK_METHOD(void, onResponseHead,
              (const pipeline::RequestContext& ctx, ResponseHead& head, WorkerSlot* slot),
              (const, override));
  MOCK_METHOD(void, onAttempt,
              (const pipeline::RequestContext& ctx, const config::UpstreamTarget& upstream,
               rewrite::BodyEdits& edits, WorkerSlot* slot),
              (const, override));
  MOCK_METHOD(bool, wantsAnswer, (const pipeline::RequestContext& ctx, WorkerSlot* slot),
              (const, override));
  MOCK_METHOD(bool, onAnswer, (pipeline::RequestContext & ctx, AnswerPart& part, WorkerSlot* slot),
              (const, override));
  MOCK_METHOD(void, onFinish, (const pipeline::RequestOutcome& outcome, WorkerSlot* slot),
              (const, override));
};

}  // namespace fwd::dataplane::policy
