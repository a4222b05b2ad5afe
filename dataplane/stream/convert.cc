#include "dataplane/stream/convert.h"

#include <map>
#include <nlohmann/json.hpp>

#include "common/sse/sse_parser.h"

namespace fwd::dataplane::stream {
namespace {

// Insertion order: the answers read as OpenAI writes them (id, object, created, model, ...).
using Json = nlohmann::ordered_json;

proxy::ApiError upstreamError(std::string message) {
  return proxy::ApiError{502, "api_error", "upstream_error", std::move(message), ""};
}

// An error the upstream sent in its answer ({"error": {...}} or {"error": "..."}), as the
// client gets it: its message, type, code and param; its status when the code is one (vLLM puts
// 400 there), 400 for an invalid_request_error, else 502.
proxy::ApiError errorFrom(const Json& error) {
  proxy::ApiError e = upstreamError("the upstream's answer was an error");
  if (error.is_string()) {
    e.message = error.get<std::string>();
    return e;
  }
  if (!error.is_object()) {
    return e;
  }
  auto text = [&](const char* name) -> std::string {
    auto it = error.find(name);
    return it != error.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (std::string m = text("message"); !m.empty()) {
    e.message = std::move(m);
  }
  if (std::string t = text("type"); !t.empty()) {
    e.type = std::move(t);
    if (e.type == "invalid_request_error") {
      e.status = 400;
    }
  }
  if (auto it = error.find("code"); it != error.end()) {
    if (it->is_string()) {
      e.code = it->get<std::string>();
    } else if (it->is_number_integer()) {
      int code = it->get<int>();
      if (code >= 400 && code <= 599) {
        e.status = code;
      }
    }
  }
  e.param = text("param");
  return e;
}

void appendEvent(std::string& out, const Json& chunk) {
  out += "data: ";
  out += chunk.dump(-1, ' ', false, Json::error_handler_t::replace);
  out += "\n\n";
}

std::string stringOf(const Json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Appends the elements of array `from` (when it is one) to the array `to`.
void appendArray(Json& to, const Json& from) {
  if (!from.is_array()) {
    return;
  }
  if (!to.is_array()) {
    to = Json::array();
  }
  for (const auto& v : from) {
    to.push_back(v);
  }
}

}  // namespace

std::optional<Api> convertibleApi(std::string_view api_path) {
  if (api_path == "/v1/chat/completions") {
    return Api::kChat;
  }
  if (api_path == "/v1/completions") {
    return Api::kCompletions;
  }
  return std::nullopt;
}

// A stream's chunks, put together as they come.
struct AnswerConverter::Assembly {
  struct ToolCall {
    std::string id;
    std::string type;
    std::string name;
    std::string arguments;
  };
  struct Choice {
    std::string role;
    std::string content;  // chat; text completions: the text
    bool has_content = false;
    std::string refusal;
    bool has_refusal = false;
    std::string reasoning;  // reasoning_content (DeepSeek, vLLM, DashScope)
    bool has_reasoning = false;
    std::map<std::int64_t, ToolCall> tool_calls;  // by their index
    std::optional<ToolCall> function_call;        // the deprecated single call
    Json finish_reason;                           // null until a chunk sets it
    Json logprobs;                                // null, or what the chunks carried, joined
  };

  explicit Assembly(Api a) : api(a), events([this](const common::sse::Event& e) { onEvent(e); }) {}

  void onEvent(const common::sse::Event& e) {
    if (error || e.data == "[DONE]") {
      return;
    }
    Json chunk = Json::parse(e.data, nullptr, false);
    if (chunk.is_discarded() || !chunk.is_object()) {
      error = upstreamError("the upstream sent a stream event that is not a JSON object");
      return;
    }
    if (auto it = chunk.find("error"); it != chunk.end() && !it->is_null()) {
      error = errorFrom(*it);
      return;
    }
    ++chunks;
    for (const char* name : {"id", "created", "model", "system_fingerprint", "service_tier"}) {
      auto it = chunk.find(name);
      if (it != chunk.end() && !it->is_null() && !meta.contains(name)) {
        meta[name] = *it;
      }
    }
    if (auto it = chunk.find("usage"); it != chunk.end() && it->is_object()) {
      usage = *it;
    }
    auto list = chunk.find("choices");
    if (list == chunk.end() || !list->is_array()) {
      return;
    }
    for (const auto& c : *list) {
      if (!c.is_object()) {
        continue;
      }
      auto index = c.find("index");
      Choice& choice =
          choices[index != c.end() && index->is_number_integer() ? index->get<std::int64_t>() : 0];
      if (auto f = c.find("finish_reason"); f != c.end() && !f->is_null()) {
        choice.finish_reason = *f;
      }
      if (auto lp = c.find("logprobs"); lp != c.end() && lp->is_object()) {
        if (!choice.logprobs.is_object()) {
          choice.logprobs = Json::object();
        }
        // chat: content and refusal token lists; text completions: parallel arrays.
        for (const char* name :
             {"content", "refusal", "tokens", "token_logprobs", "top_logprobs", "text_offset"}) {
          if (auto part = lp->find(name); part != lp->end() && part->is_array()) {
            appendArray(choice.logprobs[name], *part);
          }
        }
      }
      if (api == Api::kCompletions) {
        if (auto t = c.find("text"); t != c.end() && t->is_string()) {
          add(choice.content, *t);
          choice.has_content = true;
        }
        continue;
      }
      auto delta = c.find("delta");
      if (delta == c.end() || !delta->is_object()) {
        continue;
      }
      if (std::string role = stringOf(*delta, "role"); !role.empty()) {
        choice.role = std::move(role);
      }
      if (auto t = delta->find("content"); t != delta->end() && t->is_string()) {
        add(choice.content, *t);
        choice.has_content = true;
      }
      if (auto t = delta->find("refusal"); t != delta->end() && t->is_string()) {
        add(choice.refusal, *t);
        choice.has_refusal = true;
      }
      if (auto t = delta->find("reasoning_content"); t != delta->end() && t->is_string()) {
        add(choice.reasoning, *t);
        choice.has_reasoning = true;
      }
      if (auto calls = delta->find("tool_calls"); calls != delta->end() && calls->is_array()) {
        for (const auto& call : *calls) {
          if (!call.is_object()) {
            continue;
          }
          auto i = call.find("index");
          std::int64_t at = i != call.end() && i->is_number_integer()
                                ? i->get<std::int64_t>()
                                : static_cast<std::int64_t>(choice.tool_calls.size());
          addCall(choice.tool_calls[at], call);
        }
      }
      if (auto call = delta->find("function_call"); call != delta->end() && call->is_object()) {
        if (!choice.function_call) {
          choice.function_call.emplace();
        }
        addCall(*choice.function_call, Json{{"function", *call}});
      }
    }
  }

  // Text of the answer: counted against what a conversion may hold.
  void add(std::string& to, const Json& piece) {
    const std::string& text = piece.get_ref<const std::string&>();
    held += text.size();
    to += text;
  }

  // A tool call's delta: its id and type come once, its name and arguments in pieces.
  void addCall(ToolCall& to, const Json& delta) {
    if (std::string id = stringOf(delta, "id"); !id.empty()) {
      to.id = std::move(id);
    }
    if (std::string type = stringOf(delta, "type"); !type.empty()) {
      to.type = std::move(type);
    }
    if (auto f = delta.find("function"); f != delta.end() && f->is_object()) {
      for (auto [field, to_field] : {std::pair{"name", &to.name}, {"arguments", &to.arguments}}) {
        if (auto v = f->find(field); v != f->end() && v->is_string()) {
          add(*to_field, *v);
        }
      }
    }
  }

  Json answer() const {
    Json a = Json::object();
    a["id"] = meta.value("id", Json(""));
    a["object"] = api == Api::kChat ? "chat.completion" : "text_completion";
    a["created"] = meta.value("created", Json(0));
    a["model"] = meta.value("model", Json(""));
    Json list = Json::array();
    for (const auto& [index, c] : choices) {
      Json choice = Json::object();
      choice["index"] = index;
      if (api == Api::kCompletions) {
        choice["text"] = c.content;
        choice["logprobs"] = c.logprobs;
        choice["finish_reason"] = c.finish_reason;
        list.push_back(std::move(choice));
        continue;
      }
      Json message = Json::object();
      message["role"] = c.role.empty() ? "assistant" : c.role;
      // A message that only calls tools has null content, as OpenAI's answers do.
      bool calls = !c.tool_calls.empty() || c.function_call;
      message["content"] = c.content.empty() && calls ? Json() : Json(c.content);
      message["refusal"] = c.has_refusal ? Json(c.refusal) : Json();
      if (c.has_reasoning) {
        message["reasoning_content"] = c.reasoning;
      }
      if (!c.tool_calls.empty()) {
        Json calls = Json::array();
        for (const auto& [i, call] : c.tool_calls) {
          calls.push_back(Json{{"id", call.id},
                               {"type", call.type.empty() ? "function" : call.type},
                               {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
        }
        message["tool_calls"] = std::move(calls);
      }
      if (c.function_call) {
        message["function_call"] = {{"name", c.function_call->name},
                                    {"arguments", c.function_call->arguments}};
      }
      choice["message"] = std::move(message);
      choice["logprobs"] = c.logprobs;
      choice["finish_reason"] = c.finish_reason;
      list.push_back(std::move(choice));
    }
    a["choices"] = std::move(list);
    if (!usage.is_null()) {
      a["usage"] = usage;
    }
    for (const char* name : {"system_fingerprint", "service_tier"}) {
      if (meta.contains(name)) {
        a[name] = meta[name];
      }
    }
    return a;
  }

  Api api;
  common::sse::SseParser events;
  Json meta = Json::object();
  std::map<std::int64_t, Choice> choices;
  Json usage;
  size_t chunks = 0;
  size_t held = 0;  // bytes of text assembled
  std::optional<proxy::ApiError> error;
};

AnswerConverter::AnswerConverter(Direction direction, Api api, bool include_usage)
    : direction_(direction), api_(api), include_usage_(include_usage) {
  if (direction_ == Direction::kStreamToJson) {
    assembly_ = std::make_unique<Assembly>(api_);
  }
}

AnswerConverter::~AnswerConverter() = default;

std::string_view AnswerConverter::contentType() const {
  return direction_ == Direction::kStreamToJson ? "application/json" : "text/event-stream";
}

void AnswerConverter::feed(std::string_view payload) {
  if (too_big_) {
    return;
  }
  if (direction_ == Direction::kJsonToStream) {
    too_big_ = held_.size() + payload.size() > kMaxConvertedAnswer;
    if (!too_big_) {
      held_.append(payload);
    }
    return;
  }
  // One event over the parser's limit, or more text than a conversion holds.
  too_big_ = !assembly_->events.feed(payload) || assembly_->held > kMaxConvertedAnswer;
}

std::optional<proxy::ApiError> AnswerConverter::finish() {
  if (too_big_) {
    return upstreamError("the upstream's answer is too large to convert (over " +
                         std::to_string(kMaxConvertedAnswer >> 20) + " MiB)");
  }
  if (direction_ == Direction::kJsonToStream) {
    return eventsFromJson(api_, held_, include_usage_, out_);
  }
  // A stream that ends in the middle of an event: the event's bytes never end with a blank
  // line, so it is not seen; what came before is the answer.
  if (assembly_->error) {
    return assembly_->error;
  }
  if (assembly_->chunks == 0) {
    return upstreamError("the upstream's stream ended without an answer");
  }
  out_ = assembly_->answer().dump(-1, ' ', false, Json::error_handler_t::replace);
  return std::nullopt;
}

std::optional<proxy::ApiError> eventsFromJson(Api api, std::string_view json, bool include_usage,
                                              std::string& out) {
  Json a = Json::parse(json, nullptr, false);
  if (a.is_discarded() || !a.is_object()) {
    return upstreamError("the upstream's answer is not a JSON object");
  }
  if (auto it = a.find("error"); it != a.end() && !it->is_null()) {
    return errorFrom(*it);
  }
  auto list = a.find("choices");
  if (list == a.end() || !list->is_array()) {
    return upstreamError("the upstream's answer has no choices");
  }
  // Every chunk starts as OpenAI's do; with include_usage each carries "usage": null but the
  // last, which carries the usage and no choice.
  Json head = Json::object();
  head["id"] = a.value("id", Json(""));
  head["object"] = api == Api::kChat ? "chat.completion.chunk" : "text_completion";
  head["created"] = a.value("created", Json(0));
  head["model"] = a.value("model", Json(""));
  for (const char* name : {"system_fingerprint", "service_tier"}) {
    if (auto it = a.find(name); it != a.end()) {
      head[name] = *it;
    }
  }
  auto emit = [&](Json choice) {
    Json chunk = head;
    chunk["choices"] = Json::array({std::move(choice)});
    if (include_usage) {
      chunk["usage"] = nullptr;
    }
    appendEvent(out, chunk);
  };
  out.clear();
  for (const auto& c : *list) {
    if (!c.is_object()) {
      continue;
    }
    Json index = c.value("index", Json(0));
    Json logprobs = c.value("logprobs", Json());
    Json finish = c.value("finish_reason", Json());
    if (api == Api::kCompletions) {
      emit(Json{{"text", c.value("text", Json(""))},
                {"index", index},
                {"logprobs", logprobs},
                {"finish_reason", nullptr}});
      emit(Json{{"text", ""}, {"index", index}, {"logprobs", nullptr}, {"finish_reason", finish}});
      continue;
    }
    Json message = c.value("message", Json::object());
    if (!message.is_object()) {
      message = Json::object();
    }
    auto piece = [&](Json delta, Json lp = Json()) {
      return Json{{"index", index},
                  {"delta", std::move(delta)},
                  {"logprobs", std::move(lp)},
                  {"finish_reason", nullptr}};
    };
    // As OpenAI's first chunk: content "" (null when the answer only calls tools).
    auto content = message.find("content");
    bool no_content = content == message.end() || content->is_null();
    emit(piece(Json{{"role", message.value("role", Json("assistant"))},
                    {"content", no_content ? Json() : Json("")},
                    {"refusal", nullptr}}));
    if (auto r = message.find("reasoning_content"); r != message.end() && r->is_string()) {
      emit(piece(Json{{"reasoning_content", *r}}));
    }
    if (auto t = message.find("content");
        t != message.end() && t->is_string() && !t->get_ref<const std::string&>().empty()) {
      emit(piece(Json{{"content", *t}}, logprobs));
    } else if (logprobs.is_object()) {
      emit(piece(Json::object(), logprobs));
    }
    if (auto r = message.find("refusal"); r != message.end() && r->is_string()) {
      emit(piece(Json{{"refusal", *r}}));
    }
    if (auto calls = message.find("tool_calls"); calls != message.end() && calls->is_array()) {
      Json deltas = Json::array();
      std::int64_t i = 0;
      for (const auto& call : *calls) {
        Json d = Json{{"index", i++}};
        for (const char* name : {"id", "type", "function"}) {
          if (auto it = call.find(name); it != call.end()) {
            d[name] = *it;
          }
        }
        deltas.push_back(std::move(d));
      }
      emit(piece(Json{{"tool_calls", std::move(deltas)}}));
    }
    if (auto call = message.find("function_call"); call != message.end() && call->is_object()) {
      emit(piece(Json{{"function_call", *call}}));
    }
    emit(Json{{"index", index},
              {"delta", Json::object()},
              {"logprobs", nullptr},
              {"finish_reason", finish}});
  }
  if (include_usage) {
    Json chunk = head;
    chunk["choices"] = Json::array();
    chunk["usage"] = a.value("usage", Json());
    appendEvent(out, chunk);
  }
  out += "data: [DONE]\n\n";
  return std::nullopt;
}

}  // namespace fwd::dataplane::stream
