// DashScope's native API (Alibaba Cloud Model Studio), for chat completions:
//   POST /v1/chat/completions {"model","messages",...}  ->
//   POST <base>/services/aigc/text-generation/generation
//        {"model","input":{"messages"},"parameters":{"result_format":"message",...}}
// with `X-DashScope-SSE: enable` and "incremental_output": true for a stream. Answers come back as
// {"output":{"choices":[{"message","finish_reason"}]},"usage":{"input_tokens",...},"request_id"}
// (a stream: one such object per event, "finish_reason": "null" until the last) and are
// rewritten as chat.completion / chat.completion.chunk; errors as {"code","message"} with codes
// of DashScope's own (InvalidApiKey, DataInspectionFailed, Throttling.RateQuota, ...).
//
// A parameter DashScope cannot express is a 400 naming it; `user`, `metadata` and `store` are
// dropped (they change no answer). The translation builds JSON trees: it runs only for upstreams
// of this provider, never on the passthrough path.
#include <chrono>

#include "common/sse/sse_parser.h"
#include "dataplane/config/compiled_config.h"
#include "dataplane/provider/chat_translation.h"
#include "dataplane/provider/provider.h"
#include "dataplane/proxy/client_request.h"
#include "nlohmann/json.hpp"

namespace fwd::dataplane::provider {
namespace {

using chat::among;
using chat::Json;
using chat::nonEmptyString;
using chat::unsupported;

constexpr std::string_view kGenerationPath = "/services/aigc/text-generation/generation";
constexpr size_t kMaxAnswerBytes = 8u << 20;

// OpenAI request fields that DashScope's "parameters" take under the same name.
constexpr std::string_view kSameName[] = {
    "temperature", "top_p", "top_k", "seed", "stop", "max_tokens", "presence_penalty", "n", "tools",
    "tool_choice", "parallel_tool_calls", "response_format", "logprobs", "top_logprobs",
    // DashScope's own, passed by clients as extra body fields
    "repetition_penalty", "enable_search", "search_options", "enable_thinking", "thinking_budget",
    "translation_options"};
// Fields that change nothing DashScope answers: dropped.
constexpr std::string_view kDropped[] = {"user", "metadata", "store"};

// A message's content as DashScope's text-generation API takes it: a string (text parts joined).
std::optional<proxy::ApiError> translateContent(Json& content, size_t index) {
  if (!content.is_array()) {
    return std::nullopt;
  }
  std::string text;
  for (const Json& part : content) {
    auto type = part.find("type");
    auto value = part.find("text");
    if (!part.is_object() || type == part.end() || *type != "text" || value == part.end() ||
        !value->is_string()) {
      return unsupported("messages[" + std::to_string(index) + "].content",
                         "holds a part that is not text: DashScope's text-generation API "
                         "(provider dashscope) takes text only");
    }
    text += value->get<std::string>();
  }
  content = std::move(text);
  return std::nullopt;
}

std::optional<std::string> finishReason(const Json& choice) {
  auto it = choice.find("finish_reason");
  if (it == choice.end() || !it->is_string() || *it == "null" || *it == "") {
    return std::nullopt;
  }
  return it->get<std::string>();
}

// DashScope's usage as OpenAI's.
Json usageOf(const Json& usage) {
  auto count = [&](const char* name) -> std::int64_t {
    auto it = usage.find(name);
    return it != usage.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
  };
  std::int64_t input = count("input_tokens");
  std::int64_t output = count("output_tokens");
  std::int64_t total = usage.contains("total_tokens") ? count("total_tokens") : input + output;
  Json out = {{"prompt_tokens", input}, {"completion_tokens", output}, {"total_tokens", total}};
  if (auto details = usage.find("prompt_tokens_details");
      details != usage.end() && details->is_object() && details->contains("cached_tokens")) {
    out["prompt_tokens_details"] = {{"cached_tokens", (*details)["cached_tokens"]}};
  }
  if (auto details = usage.find("output_tokens_details");
      details != usage.end() && details->is_object() && details->contains("reasoning_tokens")) {
    out["completion_tokens_details"] = {{"reasoning_tokens", (*details)["reasoning_tokens"]}};
  }
  return out;
}

// Tool calls as OpenAI writes them: "type" set, no empty id or name (a stream's later deltas
// carry "" there, which would reset what a client assembled).
Json toolCallsOf(const Json& calls) {
  Json out = Json::array();
  for (const Json& call : calls) {
    if (!call.is_object()) {
      continue;
    }
    Json c = Json::object();
    if (auto index = call.find("index"); index != call.end()) {
      c["index"] = *index;
    }
    if (auto id = call.find("id"); id != call.end() && nonEmptyString(*id)) {
      c["id"] = *id;
      c["type"] = "function";
    }
    if (auto fn = call.find("function"); fn != call.end() && fn->is_object()) {
      Json f = Json::object();
      if (auto name = fn->find("name"); name != fn->end() && nonEmptyString(*name)) {
        f["name"] = *name;
      }
      if (auto args = fn->find("arguments"); args != fn->end() && args->is_string()) {
        f["arguments"] = *args;
      }
      c["function"] = std::move(f);
    }
    out.push_back(std::move(c));
  }
  return out;
}

// DashScope's error ({"code","message"}) as OpenAI's, with OpenAI's status for its code.
proxy::ApiError errorOf(int status, const Json& body) {
  proxy::ApiError e;
  auto text = [&](const char* name) {
    auto it = body.find(name);
    return it != body.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::string code = text("code");
  e.message = text("message");
  if (e.message.empty()) {
    e.message = "DashScope answered " + std::to_string(status) + (code.empty() ? "" : " " + code);
  }
  e.status = status >= 400 ? status : 400;
  e.code = code;
  if (code == "InvalidApiKey") {
    e.status = 401;
    e.code = "invalid_api_key";
  } else if (code == "DataInspectionFailed") {
    e.status = 400;
    e.code = "content_filter";
  } else if (code.starts_with("Throttling")) {
    e.status = 429;
    e.code = "rate_limit_exceeded";
  } else if (code == "Arrearage") {
    e.status = 429;
    e.type = "insufficient_quota";
    e.code = "insufficient_quota";
  } else if (code.starts_with("AccessDenied")) {
    e.status = 403;
  } else if (code == "ModelNotFound" || e.message.find("Model not exist") != std::string::npos) {
    e.status = 404;
    e.code = "model_not_found";
  }
  if (e.type.empty()) {
    e.type = std::string(openAiErrorType(e.status));
  }
  return e;
}

class DashScopeAnswer final : public AnswerTranslator {
 public:
  DashScopeAnswer(bool sse, std::string_view model, bool include_usage)
      : sse_(sse),
        model_(model),
        include_usage_(include_usage),
        created_(chat::nowSeconds()),
        events_([this](const common::sse::Event& e) { onEvent(e); }) {}

  void feed(std::string_view payload) override {
    if (!sse_) {
      too_big_ = too_big_ || held_.size() + payload.size() > kMaxAnswerBytes;
      if (!too_big_) {
        held_.append(payload);
      }
      return;
    }
    if (!ended_) {
      events_.feed(payload);
    }
  }

  std::string unsentUsage() const override {
    if (!sse_ || include_usage_ || !usage_) {
      return "";
    }
    return Json{{"usage", usageOf(*usage_)}}.dump();
  }

  std::optional<proxy::ApiError> finish() override {
    if (sse_) {
      if (!ended_) {
        if (include_usage_ && usage_) {
          appendChunk(Json::array(), usageOf(*usage_));
        }
        out_ += "data: [DONE]\n\n";
        ended_ = true;
      }
      return std::nullopt;
    }
    if (too_big_) {
      return failure("the answer is larger than 8 MiB");
    }
    Json body = Json::parse(held_, nullptr, false);
    if (!body.is_object()) {
      return failure("the answer is not a JSON object");
    }
    if (auto code = body.find("code"); code != body.end() && nonEmptyString(*code)) {
      return errorOf(400, body);
    }
    auto output = body.find("output");
    if (output == body.end() || !output->is_object() || !output->contains("choices") ||
        !(*output)["choices"].is_array()) {
      return failure("the answer has no output.choices");
    }
    Json choices = Json::array();
    size_t i = 0;
    for (const Json& c : (*output)["choices"]) {
      Json message = {{"role", "assistant"}, {"content", nullptr}};
      if (auto m = c.find("message"); m != c.end() && m->is_object()) {
        copyMessage(*m, message);
      }
      auto fr = finishReason(c);
      choices.push_back({{"index", i++},
                         {"message", std::move(message)},
                         {"logprobs", c.contains("logprobs") ? c["logprobs"] : Json(nullptr)},
                         {"finish_reason", fr ? Json(*fr) : Json(nullptr)}});
    }
    Json answer = {{"id", idOf(body)},
                   {"object", "chat.completion"},
                   {"created", created_},
                   {"model", model_},
                   {"choices", choices}};
    if (auto usage = body.find("usage"); usage != body.end() && usage->is_object()) {
      answer["usage"] = usageOf(*usage);
    }
    out_ = answer.dump(-1, ' ', false, Json::error_handler_t::replace);
    return std::nullopt;
  }

 private:
  static proxy::ApiError failure(std::string why) {
    return proxy::ApiError{502, "api_error", "upstream_error",
                           "DashScope sent an answer fwd cannot translate: " + std::move(why), ""};
  }

  static std::string idOf(const Json& body) {
    auto it = body.find("request_id");
    return "chatcmpl-" + (it != body.end() && it->is_string() ? it->get<std::string>() : "");
  }

  // role, content, reasoning_content and tool_calls of a DashScope message.
  static void copyMessage(const Json& m, Json& message) {
    if (auto content = m.find("content"); content != m.end() && content->is_string()) {
      message["content"] = *content;
    }
    if (auto r = m.find("reasoning_content"); r != m.end() && nonEmptyString(*r)) {
      message["reasoning_content"] = *r;
    }
    if (auto calls = m.find("tool_calls"); calls != m.end() && calls->is_array()) {
      message["tool_calls"] = toolCallsOf(*calls);
    }
  }

  void appendChunk(Json choices, Json usage = nullptr) {
    chat::appendChunk(out_, id_, created_, model_, std::move(choices), std::move(usage));
  }

  void onEvent(const common::sse::Event& e) {
    if (ended_) {
      return;
    }
    Json data = Json::parse(e.data, nullptr, false);
    if (e.event == "error" ||
        (data.is_object() && data.contains("code") && nonEmptyString(data["code"]))) {
      // The stream's end: the error as an OpenAI error event (no [DONE]).
      proxy::ApiError err = errorOf(400, data.is_object() ? data : Json::object());
      out_ += "data: " + proxy::errorBody(err) + "\n\n";
      ended_ = true;
      return;
    }
    if (!data.is_object()) {
      return;  // not an event of DashScope's (a keep-alive, a comment)
    }
    if (id_.empty()) {
      id_ = idOf(data);
    }
    if (auto usage = data.find("usage"); usage != data.end() && usage->is_object()) {
      usage_ = *usage;  // cumulative: the last one counts
    }
    auto output = data.find("output");
    if (output == data.end() || !output->is_object() || !output->contains("choices")) {
      return;
    }
    Json choices = Json::array();
    size_t i = 0;
    for (const Json& c : (*output)["choices"]) {
      Json delta = Json::object();
      if (!role_sent_) {
        delta["role"] = "assistant";
      }
      if (auto m = c.find("message"); m != c.end() && m->is_object()) {
        if (auto r = m->find("reasoning_content"); r != m->end() && nonEmptyString(*r)) {
          delta["reasoning_content"] = *r;
        }
        if (auto content = m->find("content"); content != m->end() && content->is_string()) {
          if (nonEmptyString(*content) || !role_sent_) {
            delta["content"] = *content;
          }
        }
        if (auto calls = m->find("tool_calls"); calls != m->end() && calls->is_array()) {
          delta["tool_calls"] = toolCallsOf(*calls);
        }
      }
      auto fr = finishReason(c);
      choices.push_back({{"index", i++},
                         {"delta", std::move(delta)},
                         {"logprobs", c.contains("logprobs") ? c["logprobs"] : Json(nullptr)},
                         {"finish_reason", fr ? Json(*fr) : Json(nullptr)}});
    }
    role_sent_ = true;
    appendChunk(std::move(choices));
  }

  bool sse_;
  std::string model_;
  bool include_usage_;
  std::int64_t created_;
  common::sse::SseParser events_;
  std::string held_;  // a JSON answer so far
  bool too_big_ = false;
  std::string id_;
  std::optional<Json> usage_;
  bool role_sent_ = false;
  bool ended_ = false;
};

class DashScope final : public Provider {
 public:
  std::string_view name() const override { return "dashscope"; }

  void writeRequestHead(const OutgoingRequest& r, const config::UpstreamTarget& t,
                        std::string& out) const override {
    out.clear();
    out.append(r.client.methodString()).append(" ").append(t.base_path).append(kGenerationPath);
    out.append(" HTTP/1.1\r\n");
    if (r.upstream_stream) {
      out.append("X-DashScope-SSE: enable\r\n");
    }
    appendHeadFields(r, t, out);
  }

  bool listsModels() const override { return false; }
  bool rewritesErrors() const override { return true; }
  bool translates() const override { return true; }

  proxy::ApiError errorAnswer(int status, std::string_view body) const override {
    // JSON, or an error event when a stream was asked for.
    std::string_view json = body;
    if (size_t data = body.find("data:"); data != std::string_view::npos) {
      json = body.substr(data + 5);
      json = json.substr(0, json.find('\n'));
    }
    Json parsed = Json::parse(json, nullptr, false);
    return errorOf(status, parsed.is_object() ? parsed : Json::object());
  }

  Translation translateRequest(std::string_view api_path, std::string_view body,
                               std::string& out) const override {
    Translation t;
    Json request;
    if ((t.error = chat::chatRequest(api_path, body, "DashScope's native API (provider dashscope)",
                                     request))) {
      return t;
    }
    Json parameters = {{"result_format", "message"}};
    Json input = Json::object();
    Json model;
    for (auto& [key, value] : request.items()) {
      if (key == "model") {
        model = value;
      } else if (key == "messages") {
        if (!value.is_array()) {
          t.error = proxy::invalidRequest(400, "'messages' must be an array.", "invalid_type",
                                          "messages");
          return t;
        }
        for (size_t i = 0; i < value.size(); ++i) {
          if (value[i].is_object() && value[i].contains("content")) {
            if (auto e = translateContent(value[i]["content"], i)) {
              t.error = std::move(e);
              return t;
            }
          }
        }
        input["messages"] = value;
      } else if (key == "stream") {
        t.stream = value.is_boolean() && value.get<bool>();
      } else if (key == "stream_options") {
        t.include_usage = value.is_object() && value.contains("include_usage") &&
                          value["include_usage"].is_boolean() && value["include_usage"].get<bool>();
      } else if (key == "max_completion_tokens") {
        parameters["max_tokens"] = value;
      } else if (among(kSameName, key)) {
        parameters[key] = value;
      } else if (!among(kDropped, key)) {
        t.error = unsupported(key,
                              "is not supported by DashScope's native API (provider "
                              "dashscope); remove it or use DashScope's compatible mode "
                              "(provider openai)");
        return t;
      }
    }
    if (t.stream) {
      parameters["incremental_output"] = true;
    } else {
      t.include_usage = false;
    }
    Json translated = {{"model", std::move(model)},
                       {"input", std::move(input)},
                       {"parameters", std::move(parameters)}};
    out = translated.dump(-1, ' ', false, Json::error_handler_t::replace);
    return t;
  }

  std::unique_ptr<AnswerTranslator> answerTranslator(bool sse, std::string_view model,
                                                     bool include_usage,
                                                     bool /*stream_asked*/) const override {
    return std::make_unique<DashScopeAnswer>(sse, model, include_usage);
  }
};

}  // namespace

std::shared_ptr<const Provider> dashscope() {
  static const std::shared_ptr<const Provider> provider = std::make_shared<DashScope>();
  return provider;
}

}  // namespace fwd::dataplane::provider
