#include "tests/fakes/fake_dashscope.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "tests/fakes/fake_llm.h"

namespace fwd::fakes {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kGeneration = "/services/aigc/text-generation/generation";

std::string requestId(std::uint64_t id) { return "ds-req-" + std::to_string(id); }

DashScopeRequest fail(int status, std::string_view code, std::string_view message) {
  DashScopeRequest r;
  r.status = status;
  r.body = Json{{"code", code}, {"message", message}, {"request_id", "ds-req-0"}}.dump();
  return r;
}

std::string tokenText(int i, std::string_view name) {
  std::string t;
  appendToken(t, i, name);
  return t;
}

Json usage(int output) {
  return {{"input_tokens", kPromptTokens},
          {"output_tokens", output},
          {"total_tokens", kPromptTokens + output}};
}

// One choice of the message format, or the text format's output.
Json output(const DashScopeRequest& r, Json message, std::string_view finish) {
  if (!r.message_format) {
    return {{"text", message.value("content", "")}, {"finish_reason", finish}};
  }
  return {{"choices", Json::array({{{"finish_reason", finish}, {"message", std::move(message)}}})}};
}

}  // namespace

DashScopeRequest dashScopeGate(const DashScopeConfig& config, std::string_view target,
                               std::string_view authorization, bool sse_asked,
                               const std::vector<std::string>& models, std::string_view body) {
  std::string_view path = target.substr(0, target.find('?'));
  if (!path.ends_with(kGeneration)) {
    return fail(404, "InvalidURL", "url error, please check url!");
  }
  if (authorization != "Bearer " + config.api_key) {
    return fail(401, "InvalidApiKey", "Invalid API-key provided.");
  }
  Json request = Json::parse(body, nullptr, false);
  if (!request.is_object()) {
    return fail(400, "InvalidParameter", "The request body is not valid JSON.");
  }
  auto model = request.find("model");
  if (model == request.end() || !model->is_string()) {
    return fail(400, "InvalidParameter", "Model is required.");
  }
  if (std::find(models.begin(), models.end(), model->get<std::string>()) == models.end()) {
    return fail(400, "InvalidParameter", "Model not exist.");
  }
  auto input = request.find("input");
  if (input == request.end() || !input->is_object() || !input->contains("messages") ||
      !(*input)["messages"].is_array() || (*input)["messages"].empty()) {
    return fail(400, "InvalidParameter", "Input messages are required.");
  }
  for (const Json& m : (*input)["messages"]) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      return fail(400, "InvalidParameter", "Every message needs a role.");
    }
    auto content = m.find("content");
    if (content != m.end() && !content->is_string() && !content->is_null()) {
      return fail(400, "InvalidParameter",
                  "Input should be a valid string: the content of a text-generation message.");
    }
  }
  if (request.contains("messages") || request.contains("stream")) {
    return fail(400, "InvalidParameter", "Unknown top-level field: parameters go in parameters.");
  }
  DashScopeRequest r;
  r.model = model->get<std::string>();
  r.stream = sse_asked;
  if (auto p = request.find("parameters"); p != request.end()) {
    if (!p->is_object()) {
      return fail(400, "InvalidParameter", "parameters must be an object.");
    }
    r.incremental = p->value("incremental_output", false);
    r.message_format = p->value("result_format", "text") == "message";
  }
  if (body.find("FILTER_ME") != std::string_view::npos) {
    return fail(400, "DataInspectionFailed", "Input data may contain inappropriate content.");
  }
  return r;
}

void appendDashScopeError(std::string& out, int status, std::uint64_t id) {
  std::string_view code = "InvalidParameter";
  std::string_view message = "fake dashscope error";
  if (status == 401) {
    code = "InvalidApiKey";
    message = "Invalid API-key provided.";
  } else if (status == 403) {
    code = "AccessDenied";
    message = "Access denied.";
  } else if (status == 429) {
    code = "Throttling.RateQuota";
    message = "Requests rate limit exceeded, please try again later.";
  } else if (status >= 500) {
    code = "InternalError";
    message = "An internal error has occured, please try again later or contact service support.";
  }
  out += Json{{"code", code}, {"message", message}, {"request_id", requestId(id)}}.dump();
}

void appendDashScopeAnswer(std::string& out, const DashScopeRequest& r, std::uint64_t id,
                           std::string_view name, bool tool_calls) {
  Json message = {{"role", "assistant"}};
  std::string_view finish = "stop";
  if (tool_calls) {
    message["content"] = "";
    message["tool_calls"] = Json::array(
        {{{"index", 0},
          {"id", "call_fake"},
          {"type", "function"},
          {"function", {{"name", "get_weather"}, {"arguments", R"({"city":"Paris"})"}}}}});
    finish = "tool_calls";
  } else {
    message["content"] = tokenText(0, name) + tokenText(1, name) + tokenText(2, name);
  }
  out += Json{{"output", output(r, std::move(message), finish)},
              {"usage", usage(3)},
              {"request_id", requestId(id)}}
             .dump();
}

void appendDashScopeEvent(std::string& out, const DashScopeRequest& r, std::uint64_t id,
                          std::string_view name, bool tool_calls, int index, int count) {
  const bool last = index + 1 == count;
  Json message = {{"role", "assistant"}};
  std::string_view finish = last ? (tool_calls ? "tool_calls" : "stop") : "null";
  if (tool_calls) {
    // The call's id and name first, then its arguments in pieces (later pieces carry "" there).
    static constexpr std::string_view kArguments = R"({"city":"Paris"})";
    size_t pieces = static_cast<size_t>(std::max(count - 1, 1));
    size_t size = (kArguments.size() + pieces - 1) / pieces;
    Json call = {{"index", 0}, {"id", index == 0 ? "call_fake" : ""}, {"type", "function"}};
    std::string args;
    if (index > 0) {
      size_t from = static_cast<size_t>(index - 1) * size;
      args = from < kArguments.size() ? std::string(kArguments.substr(from, size)) : "";
    }
    call["function"] = {{"name", index == 0 ? "get_weather" : ""}, {"arguments", args}};
    message["content"] = "";
    message["tool_calls"] = Json::array({std::move(call)});
  } else if (r.incremental) {
    message["content"] = tokenText(index, name);
  } else {
    std::string so_far;
    for (int i = 0; i <= index; ++i) {
      appendToken(so_far, i, name);
    }
    message["content"] = so_far;
  }
  out += "id:" + std::to_string(index + 1) + "\nevent:result\n:HTTP_STATUS/200\ndata:";
  out += Json{{"output", output(r, std::move(message), finish)},
              {"usage", usage(index + 1)},
              {"request_id", requestId(id)}}
             .dump();
  out += "\n\n";
}

void appendDashScopeErrorEvent(std::string& out, std::uint64_t id) {
  out += "id:1\nevent:error\n:HTTP_STATUS/400\ndata:";
  out += Json{{"code", "DataInspectionFailed"},
              {"message", "Output data may contain inappropriate content."},
              {"request_id", requestId(id)}}
             .dump();
  out += "\n\n";
}

}  // namespace fwd::fakes
