#include "dataplane/stream/convert.h"

#include <simdjson.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>
#include <vector>

#include "common/sse/sse_parser.h"
#include "common/text/json_escape.h"

namespace fwd::dataplane::stream {
namespace {

// Insertion order: the events read as OpenAI writes them (id, object, created, model, ...).
using Json = nlohmann::ordered_json;
namespace od = simdjson::ondemand;

// A failure to convert: the message says what the answer was.
proxy::ApiError upstreamError(std::string message) {
  return proxy::ApiError{502, "api_error", "upstream_error", std::move(message), ""};
}

// Whether `json` holds an error object the upstream sent.
bool isErrorAnswer(const Json& json) {
  auto it = json.find("error");
  return it != json.end() && !it->is_null();
}

// An error the upstream sent in its answer ({"error": {...}} or {"error": "..."}), as the
// client gets it: its message, type, code and param; its status when the code is one (vLLM puts
// 400 there), 400 for an invalid_request_error, else 502.
proxy::ApiError errorFrom(const Json& error) {
  proxy::ApiError e = upstreamError("an error without a message");
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

// A stream's chunks, put together as they come. Each event is read with simdjson's on-demand
// parser in one forward pass (no tree is built); the answer is written by hand at the end, with
// the values fwd did not change (ids, numbers, usage, logprobs) copied as the upstream wrote
// them.
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
    std::string finish_reason;                    // as the upstream wrote it; empty: null
    // logprobs arrays by name (content, refusal; tokens, token_logprobs, top_logprobs,
    // text_offset), their elements joined as the upstream wrote them.
    std::vector<std::pair<std::string, std::string>> logprobs;
    bool has_logprobs = false;
  };
  // One choice of one chunk, read before the choice it belongs to is known (its index may come
  // after its delta).
  struct Piece {
    std::int64_t index = 0;
    std::optional<std::string> role, content, refusal, reasoning, text, finish_reason;
    struct Call {
      std::optional<std::int64_t> index;
      std::string id, type, name, arguments;
    };
    std::vector<Call> calls;
    std::optional<Call> function_call;
    std::vector<std::pair<std::string, std::string>> logprobs;
    bool has_logprobs = false;
  };

  explicit Assembly(Api a) : api(a), events([this](const common::sse::Event& e) { onEvent(e); }) {}

  void onEvent(const common::sse::Event& e) {
    if (error || e.data == "[DONE]") {
      return;
    }
    padded.assign(e.data);
    padded.reserve(padded.size() + simdjson::SIMDJSON_PADDING);
    od::document doc;
    od::object chunk;
    if (parser().iterate(padded.data(), padded.size(), padded.capacity()).get(doc) ||
        doc.get_object().get(chunk) || !readChunk(chunk)) {
      if (!error) {
        error = upstreamError("a stream event is not a JSON object");
      }
      return;
    }
    ++chunks;
  }

  static od::parser& parser() {
    static thread_local od::parser p;  // worker thread: one parse at a time
    return p;
  }

  // Copies a string value (unescaped) into `to`, counting it against what a conversion holds.
  bool take(od::value v, std::string& to) {
    std::string_view s;
    if (v.get_string().get(s)) {
      return false;
    }
    held += s.size();
    to.append(s);
    return true;
  }

  static bool isNull(od::value& v) {
    od::json_type t;
    return !v.type().get(t) && t == od::json_type::null;
  }

  // A value's JSON text as the upstream wrote it (a string with its quotes, a number, an object or
  // array whole).
  static bool raw(od::value v, std::string& out) {
    od::json_type t;
    if (v.type().get(t)) {
      return false;
    }
    std::string_view text;
    if (t == od::json_type::object) {
      od::object o;
      if (v.get_object().get(o) || o.raw_json().get(text)) {
        return false;
      }
    } else if (t == od::json_type::array) {
      od::array a;
      if (v.get_array().get(a) || a.raw_json().get(text)) {
        return false;
      }
    } else {
      text = v.raw_json_token();
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\n' || text.back() == '\r' ||
                             text.back() == '\t')) {
      text.remove_suffix(1);
    }
    out.assign(text);
    return true;
  }

  // Calls fn(key, value) for each field of `o`, in order; false when the JSON is malformed or
  // fn returns false.
  template <typename Fn>
  static bool eachField(od::object& o, Fn&& fn) {
    for (auto field : o) {
      std::string_view key;
      od::value v;
      if (field.unescaped_key().get(key) || field.value().get(v) || !fn(key, v)) {
        return false;
      }
    }
    return true;
  }

  // Calls fn(object) for each element of `v` that is an object; false when the JSON is
  // malformed or fn returns false. A value that is no array has no elements.
  template <typename Fn>
  static bool eachObject(od::value& v, Fn&& fn) {
    od::array list;
    if (v.get_array().get(list)) {
      return true;
    }
    for (auto element : list) {
      od::object o;
      if (!element.get_object().get(o) && !fn(o)) {
        return false;
      }
    }
    return true;
  }

  bool readChunk(od::object& chunk) {
    bool stop = false;  // the upstream's error: the rest does not matter
    return eachField(chunk, [&](std::string_view key, od::value& v) {
      if (stop) {
        return true;
      }
      if (key == "error") {
        if (!isNull(v)) {
          error = readError(v);
          upstream_error = true;
          stop = true;
        }
      } else if (key == "id" || key == "created" || key == "model" || key == "system_fingerprint" ||
                 key == "service_tier") {
        std::string& slot = meta[std::string(key)];
        od::json_type t;
        if (slot.empty() && !v.type().get(t) && t != od::json_type::null &&
            t != od::json_type::object && t != od::json_type::array) {
          bool ok = raw(v, slot);
          if (slot == "\"\"" || slot == "0") {
            slot.clear();  // Azure opens its streams with id "", created 0, model "": not these
          }
          return ok;
        }
      } else if (key == "usage") {
        od::json_type t;
        if (!v.type().get(t) && t == od::json_type::object) {
          return raw(v, usage);
        }
      } else if (key == "choices") {
        return eachObject(v, [&](od::object& c) {
          Piece piece;
          if (!readChoice(c, piece)) {
            return false;
          }
          apply(piece);
          return true;
        });
      }
      return true;
    });
  }

  bool readChoice(od::object& c, Piece& p) {
    return eachField(c, [&](std::string_view key, od::value& v) {
      od::json_type t;
      if (key == "index") {
        std::int64_t i = 0;
        if (!v.get_int64().get(i)) {
          p.index = i;
        }
      } else if (key == "finish_reason") {
        if (!isNull(v)) {
          p.finish_reason.emplace();
          return raw(v, *p.finish_reason);
        }
      } else if (key == "logprobs") {
        od::object lp;
        if (v.get_object().get(lp)) {
          return true;  // null
        }
        p.has_logprobs = true;
        return eachField(lp, [&](std::string_view name, od::value& part) {
          if (part.type().get(t) || t != od::json_type::array) {
            return true;
          }
          std::string text;  // "[...]", as written
          if (!raw(part, text)) {
            return false;
          }
          p.logprobs.emplace_back(std::string(name), std::move(text));
          return true;
        });
      } else if (key == "text" && api == Api::kCompletions) {
        p.text.emplace();
        if (!take(v, *p.text)) {
          p.text.reset();
        }
      } else if (key == "delta" && api == Api::kChat) {
        od::object delta;
        if (!v.get_object().get(delta)) {
          return readDelta(delta, p);
        }
      }
      return true;
    });
  }

  bool readDelta(od::object& delta, Piece& p) {
    return eachField(delta, [&](std::string_view key, od::value& v) {
      std::optional<std::string>* text = key == "role"                ? &p.role
                                         : key == "content"           ? &p.content
                                         : key == "refusal"           ? &p.refusal
                                         : key == "reasoning_content" ? &p.reasoning
                                                                      : nullptr;
      if (text != nullptr) {
        text->emplace();
        if (!take(v, **text)) {
          text->reset();  // null
        }
      } else if (key == "tool_calls") {
        return eachObject(v, [&](od::object& call) {
          p.calls.emplace_back();
          return readCall(call, p.calls.back());
        });
      } else if (key == "function_call") {
        od::object call;
        if (!v.get_object().get(call)) {
          p.function_call.emplace();
          return readCall(call, *p.function_call);
        }
      }
      return true;
    });
  }

  // A tool call's delta (or a function_call's, which has only the name and arguments): its
  // index, id and type come once, its name and arguments in pieces.
  bool readCall(od::object& call, Piece::Call& out) {
    return eachField(call, [&](std::string_view key, od::value& v) {
      if (key == "index") {
        std::int64_t i = 0;
        if (!v.get_int64().get(i)) {
          out.index = i;
        }
      } else if (key == "id") {
        take(v, out.id);
      } else if (key == "type") {
        take(v, out.type);
      } else if (key == "name") {
        take(v, out.name);
      } else if (key == "arguments") {
        take(v, out.arguments);
      } else if (key == "function") {
        od::object f;
        if (!v.get_object().get(f)) {
          return readCall(f, out);
        }
      }
      return true;
    });
  }

  static void addCall(ToolCall& to, Piece::Call& from) {
    if (!from.id.empty()) {
      to.id = std::move(from.id);
    }
    if (!from.type.empty()) {
      to.type = std::move(from.type);
    }
    to.name += from.name;
    to.arguments += from.arguments;
  }

  void apply(Piece& p) {
    Choice& c = choices[p.index];
    if (p.role && !p.role->empty()) {
      c.role = std::move(*p.role);
    }
    for (auto [from, to, has] : {std::tuple{&p.content, &c.content, &c.has_content},
                                 std::tuple{&p.text, &c.content, &c.has_content},
                                 std::tuple{&p.refusal, &c.refusal, &c.has_refusal},
                                 std::tuple{&p.reasoning, &c.reasoning, &c.has_reasoning}}) {
      if (*from) {
        *to += **from;
        *has = true;
      }
    }
    for (Piece::Call& call : p.calls) {
      std::int64_t at = call.index.value_or(static_cast<std::int64_t>(c.tool_calls.size()));
      addCall(c.tool_calls[at], call);
    }
    if (p.function_call) {
      if (!c.function_call) {
        c.function_call.emplace();
      }
      addCall(*c.function_call, *p.function_call);
    }
    if (p.finish_reason) {
      c.finish_reason = std::move(*p.finish_reason);
    }
    if (p.has_logprobs) {
      c.has_logprobs = true;
      for (const auto& part : p.logprobs) {
        const std::string& name = part.first;
        // "[a,b]": the elements, joined to what came before.
        std::string_view inner = std::string_view(part.second).substr(1, part.second.size() - 2);
        auto it = std::find_if(c.logprobs.begin(), c.logprobs.end(),
                               [&name](const auto& e) { return e.first == name; });
        if (it == c.logprobs.end()) {
          c.logprobs.emplace_back(name, std::string(inner));
        } else if (!inner.empty() && inner.find_first_not_of(" \t\r\n") != std::string_view::npos) {
          if (it->second.find_first_not_of(" \t\r\n") != std::string::npos) {
            it->second += ',';
          }
          it->second += inner;
        }
      }
    }
  }

  // The upstream's error ({"message","type","code","param"} or a string), as the client gets it:
  // its status is the code when that is one (vLLM puts 400 there), 400 for an
  // invalid_request_error, else 502.
  static proxy::ApiError readError(od::value v) {
    proxy::ApiError e = upstreamError("an error without a message");
    std::string_view s;
    if (!v.get_string().get(s)) {
      e.message.assign(s);
      return e;
    }
    od::object o;
    if (v.get_object().get(o)) {
      return e;
    }
    eachField(o, [&](std::string_view key, od::value& fv) {
      if (key == "message" && !fv.get_string().get(s) && !s.empty()) {
        e.message.assign(s);
      } else if (key == "type" && !fv.get_string().get(s) && !s.empty()) {
        e.type.assign(s);
      } else if (key == "param" && !fv.get_string().get(s)) {
        e.param.assign(s);
      } else if (key == "code") {
        std::int64_t code = 0;
        if (!fv.get_string().get(s)) {
          e.code.assign(s);
        } else if (!fv.get_int64().get(code) && code >= 400 && code <= 599) {
          e.status = static_cast<int>(code);
        }
      }
      return true;
    });
    if (e.status == 502 && e.type == "invalid_request_error") {
      e.status = 400;
    }
    return e;
  }

  std::string answer() const {
    auto metaOr = [&](const char* name, std::string_view fallback) -> std::string_view {
      auto it = meta.find(name);
      return it != meta.end() && !it->second.empty() ? std::string_view(it->second) : fallback;
    };
    auto string = [](std::string& out, std::string_view text) {
      out += '"';
      common::text::appendJsonEscaped(out, text);
      out += '"';
    };
    std::string out = "{\"id\":";
    out += metaOr("id", "\"\"");
    out += api == Api::kChat ? ",\"object\":\"chat.completion\",\"created\":"
                             : ",\"object\":\"text_completion\",\"created\":";
    out += metaOr("created", "0");
    out += ",\"model\":";
    out += metaOr("model", "\"\"");
    out += ",\"choices\":[";
    bool first = true;
    for (const auto& [index, c] : choices) {
      out += first ? "{\"index\":" : ",{\"index\":";
      first = false;
      out += std::to_string(index);
      if (api == Api::kCompletions) {
        out += ",\"text\":";
        string(out, c.content);
      } else {
        out += ",\"message\":{\"role\":";
        string(out, c.role.empty() ? std::string_view("assistant") : std::string_view(c.role));
        out += ",\"content\":";
        // A message that only calls tools has null content, as OpenAI's answers do.
        bool calls = !c.tool_calls.empty() || c.function_call;
        if (c.content.empty() && calls) {
          out += "null";
        } else {
          string(out, c.content);
        }
        out += ",\"refusal\":";
        if (c.has_refusal) {
          string(out, c.refusal);
        } else {
          out += "null";
        }
        if (c.has_reasoning) {
          out += ",\"reasoning_content\":";
          string(out, c.reasoning);
        }
        if (!c.tool_calls.empty()) {
          out += ",\"tool_calls\":[";
          bool first_call = true;
          for (const auto& [i, call] : c.tool_calls) {
            out += first_call ? "{\"id\":" : ",{\"id\":";
            first_call = false;
            string(out, call.id);
            out += ",\"type\":";
            string(out,
                   call.type.empty() ? std::string_view("function") : std::string_view(call.type));
            out += ",\"function\":{\"name\":";
            string(out, call.name);
            out += ",\"arguments\":";
            string(out, call.arguments);
            out += "}}";
          }
          out += ']';
        }
        if (c.function_call) {
          out += ",\"function_call\":{\"name\":";
          string(out, c.function_call->name);
          out += ",\"arguments\":";
          string(out, c.function_call->arguments);
          out += '}';
        }
        out += '}';
      }
      out += ",\"logprobs\":";
      if (c.has_logprobs) {
        out += '{';
        bool first_part = true;
        for (const auto& [name, elements] : c.logprobs) {
          out += first_part ? "" : ",";
          first_part = false;
          string(out, name);
          out += ":[";
          out += elements;
          out += ']';
        }
        out += '}';
      } else {
        out += "null";
      }
      out += ",\"finish_reason\":";
      out += c.finish_reason.empty() ? std::string_view("null") : std::string_view(c.finish_reason);
      out += '}';
    }
    out += ']';
    if (!usage.empty()) {
      out += ",\"usage\":";
      out += usage;
    }
    for (const char* name : {"system_fingerprint", "service_tier"}) {
      if (std::string_view v = metaOr(name, ""); !v.empty()) {
        out += ",\"";
        out += name;
        out += "\":";
        out += v;
      }
    }
    out += '}';
    return out;
  }

  Api api;
  common::sse::SseParser events;
  std::string padded;  // the event at hand, with room for simdjson's padding
  std::map<std::string, std::string, std::less<>> meta;  // id, created, model, ...: as written
  std::map<std::int64_t, Choice> choices;
  std::string usage;  // the usage object as written; empty: none
  size_t chunks = 0;
  size_t held = 0;  // bytes of text assembled
  std::optional<proxy::ApiError> error;
  bool upstream_error = false;  // `error` is one the upstream sent
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
    return upstreamError("the answer is over " + std::to_string(kMaxConvertedAnswer >> 20) +
                         " MiB of text");
  }
  if (direction_ == Direction::kJsonToStream) {
    std::optional<proxy::ApiError> e = eventsFromJson(api_, held_, include_usage_, out_);
    upstream_error_ = e && isErrorAnswer(Json::parse(held_, nullptr, false));
    return e;
  }
  // A stream that ends in the middle of an event: the event's bytes never end with a blank
  // line, so it is not seen; what came before is the answer.
  if (assembly_->error) {
    upstream_error_ = assembly_->upstream_error;
    return assembly_->error;
  }
  if (assembly_->chunks == 0) {
    return upstreamError("the stream ended without an answer");
  }
  out_ = assembly_->answer();
  // The values copied as the upstream wrote them (ids, numbers, usage, logprobs) were delimited
  // but not checked by the on-demand reads: the answer is checked whole, once (simdjson
  // validates at GB/s), so that a malformed event never becomes a malformed answer.
  static thread_local simdjson::dom::parser validator;
  out_.reserve(out_.size() + simdjson::SIMDJSON_PADDING);
  if (validator.parse(out_.data(), out_.size(), false).error()) {
    out_.clear();
    return upstreamError("a stream event is not valid JSON");
  }
  return std::nullopt;
}

std::optional<proxy::ApiError> eventsFromJson(Api api, std::string_view json, bool include_usage,
                                              std::string& out) {
  Json a = Json::parse(json, nullptr, false);
  if (a.is_discarded() || !a.is_object()) {
    return upstreamError("the answer is not a JSON object");
  }
  if (isErrorAnswer(a)) {
    return errorFrom(a["error"]);
  }
  auto list = a.find("choices");
  if (list == a.end() || !list->is_array()) {
    return upstreamError("the answer has no choices");
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
