// The fake upstream's DashScope mode (fake_upstream --dashscope-api-key): DashScope's native
// text-generation API as its reference describes it, for the provider that translates to it.
// No IO here.
//
// POST .../services/aigc/text-generation/generation with `Authorization: Bearer KEY` and
// {"model","input":{"messages":[...]},"parameters":{"result_format":"message",
// "incremental_output":bool,...}}; a stream when `X-DashScope-SSE: enable` (or `Accept:
// text/event-stream`) came with it. Answers {"output":{"choices":[{"finish_reason","message"}]},
// "usage":{"input_tokens","output_tokens","total_tokens"},"request_id"} (result_format "text":
// {"output":{"text","finish_reason"}}); streams as "id:N / event:result / :HTTP_STATUS/200 /
// data:{...}" events, "finish_reason":"null" until the last, no [DONE]; errors as
// {"code","message","request_id"} with DashScope's codes. A body holding "FILTER_ME" fails data
// inspection.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fwd::fakes {

struct DashScopeConfig {
  bool enabled = false;
  std::string api_key;  // `Authorization: Bearer KEY` must carry it
};

/// What the fake makes of a DashScope request.
struct DashScopeRequest {
  int status = 0;    // non-zero: answer this with `body` (a DashScope error)
  std::string body;  // when status != 0
  std::string model;
  bool stream = false;          // the SSE header came
  bool incremental = false;     // parameters.incremental_output
  bool message_format = false;  // parameters.result_format == "message"
};

/// Checks the credential, the path, the body's shape and the model (one of `models`), and the
/// data inspection.
DashScopeRequest dashScopeGate(const DashScopeConfig& config, std::string_view target,
                               std::string_view authorization, bool sse_asked,
                               const std::vector<std::string>& models, std::string_view body);

/// DashScope's error body for status `status` (x-fake-status): its code for that status.
void appendDashScopeError(std::string& out, int status, std::uint64_t id);

/// A whole answer: "Hello from NAME" (three tokens), or the get_weather call.
void appendDashScopeAnswer(std::string& out, const DashScopeRequest& r, std::uint64_t id,
                           std::string_view name, bool tool_calls);

/// Stream event `index` of `count` (with its "id:", "event:" and status lines): token `index`
/// (or, not incremental, the text so far), or a piece of the get_weather call.
void appendDashScopeEvent(std::string& out, const DashScopeRequest& r, std::uint64_t id,
                          std::string_view name, bool tool_calls, int index, int count);

/// The error event a stream ends with (x-fake-error-event).
void appendDashScopeErrorEvent(std::string& out, std::uint64_t id);

}  // namespace fwd::fakes
