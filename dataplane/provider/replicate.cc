// Replicate's predictions API, for chat completions:
//   POST /v1/chat/completions {"model":"owner/name","messages",...}  ->
//   POST <base>/models/owner/name/predictions {"input":{"prompt",...},"stream"}
//   ("owner/name:version": POST <base>/predictions {"version",...}),
// the prompt being the messages rendered with the model's template. Replicate answers with a
// prediction ({"id","status","output","error","metrics","urls":{"get","stream"}}); fwd then
// follows it (Provider::nextStep): a stream from urls.stream (SSE: `event: output` with the next
// piece of text, `event: done`, `event: error` {"detail"}), else urls.get polled every 500 ms (the
// interval of Replicate's own clients) until the prediction succeeded, failed or was canceled. A
// request that is not a stream asks for `Prefer: wait`, so a short prediction comes back whole in
// the first answer. Usage comes from the prediction's metrics (input_token_count,
// output_token_count), for a stream read from urls.get once it is done.
//
// Replicate's language models take a prompt, not messages, and no tools: a request with tools,
// several choices, logprobs or a response format is a 400 naming the parameter; `user`, `metadata`
// and `store` are dropped. Errors are RFC 7807 problems ({"title","detail","status"}).
#include <algorithm>
#include <charconv>
#include <chrono>

#include "common/config/provider.h"
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
using chat::stringField;
using chat::unsupported;

constexpr size_t kMaxAnswerBytes = 8u << 20;
// How often a prediction is polled (Replicate's clients poll every 0.5 s).
constexpr std::chrono::milliseconds kPollInterval{500};

// OpenAI request fields Replicate's language models take as inputs of the same name.
constexpr std::string_view kSameName[] = {
    "temperature", "top_p", "top_k", "seed", "presence_penalty", "frequency_penalty"};
// Fields that change nothing Replicate answers: dropped.
constexpr std::string_view kDropped[] = {"user", "metadata", "store"};

// One chat message as a template renders it.
struct Turn {
  std::string role;  // system, user or assistant
  std::string text;
};

// The messages as turns: `developer` is a system message; text parts are joined; consecutive
// messages of one role become one turn (blank-line separated).
std::optional<proxy::ApiError> turnsOf(const Json& messages, std::vector<Turn>& turns) {
  if (!messages.is_array() || messages.empty()) {
    return proxy::invalidRequest(400, "'messages' must be a non-empty array.", "invalid_type",
                                 "messages");
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    const Json& m = messages[i];
    const std::string at = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) {
      return proxy::invalidRequest(400, "'" + at + "' must be an object.", "invalid_type", at);
    }
    std::string role = stringField(m, "role");
    if (role == "developer") {
      role = "system";
    }
    if (role != "system" && role != "user" && role != "assistant") {
      return unsupported(at + ".role",
                         "is \"" + role +
                             "\": Replicate's language models (provider replicate) take system, "
                             "user and assistant messages only");
    }
    if (m.contains("tool_calls") || m.contains("function_call")) {
      return unsupported(at + ".tool_calls",
                         "is not supported: Replicate's language models (provider replicate) "
                         "take no tools");
    }
    std::string text;
    auto content = m.find("content");
    if (content != m.end() && content->is_string()) {
      text = content->get<std::string>();
    } else if (content != m.end() && content->is_array()) {
      for (const Json& part : *content) {
        if (!part.is_object() || stringField(part, "type") != "text" || !part.contains("text") ||
            !part["text"].is_string()) {
          return unsupported(at + ".content",
                             "holds a part that is not text: Replicate's language models "
                             "(provider replicate) take text only");
        }
        text += part["text"].get<std::string>();
      }
    } else if (content != m.end() && !content->is_null()) {
      return proxy::invalidRequest(400, "'" + at + ".content' must be a string or an array.",
                                   "invalid_type", at + ".content");
    }
    if (!turns.empty() && turns.back().role == role) {
      turns.back().text += "\n\n" + text;
    } else {
      turns.push_back({std::move(role), std::move(text)});
    }
  }
  return std::nullopt;
}

// The prompt of `turns` in `name`'s format. The prompt ends where the model's answer begins: after
// the last user turn's closing markup, or inside a last assistant turn (a prefill to continue).
std::string renderPrompt(std::string_view name, const std::vector<Turn>& turns) {
  std::string out;
  const bool prefill = turns.back().role == "assistant";
  if (name == "plain") {
    for (const Turn& t : turns) {
      out += (out.empty() ? "" : "\n\n") + t.text;
    }
    return out;
  }
  if (name == "chatml" || name == "llama3") {
    const bool chatml = name == "chatml";
    const std::string_view open_start = chatml ? "<|im_start|>" : "<|start_header_id|>";
    const std::string_view open_end = chatml ? "\n" : "<|end_header_id|>\n\n";
    const std::string_view close = chatml ? "<|im_end|>\n" : "<|eot_id|>";
    if (!chatml) {
      out += "<|begin_of_text|>";
    }
    for (size_t i = 0; i < turns.size(); ++i) {
      out.append(open_start).append(turns[i].role).append(open_end).append(turns[i].text);
      if (!(prefill && i + 1 == turns.size())) {
        out.append(close);
      }
    }
    if (!prefill) {
      out.append(open_start).append("assistant").append(open_end);
    }
    return out;
  }
  // mistral and llama2: [INST] turns; the system text opens the next user turn (llama2 wraps it
  // in <<SYS>>).
  const bool llama2 = name == "llama2";
  std::string system;
  for (size_t i = 0; i < turns.size(); ++i) {
    const Turn& t = turns[i];
    if (t.role == "system") {
      system = t.text;
      continue;
    }
    if (t.role == "user") {
      out += llama2 || out.empty() ? "<s>[INST] " : "[INST] ";
      if (!system.empty()) {
        out += llama2 ? "<<SYS>>\n" + system + "\n<</SYS>>\n\n" : system + "\n\n";
        system.clear();
      }
      out += t.text + " [/INST]";
      continue;
    }
    if (out.empty()) {
      out += "<s>";
    }
    out += " " + t.text;
    if (i + 1 < turns.size()) {
      out += llama2 ? " </s>" : "</s>";
    }
  }
  if (!system.empty()) {
    // Instructions with no user turn after them.
    out += (llama2 || out.empty() ? "<s>[INST] " : "[INST] ") + system + " [/INST]";
  }
  return out;
}

// Replicate's usage (a prediction's metrics) as OpenAI's, or null when it has none.
Json usageOf(const Json& prediction) {
  auto metrics = prediction.find("metrics");
  if (metrics == prediction.end() || !metrics->is_object()) {
    return nullptr;
  }
  auto count = [&](const char* name) -> std::optional<std::int64_t> {
    auto it = metrics->find(name);
    if (it == metrics->end() || !it->is_number_integer()) {
      return std::nullopt;
    }
    return it->get<std::int64_t>();
  };
  auto input = count("input_token_count");
  auto output = count("output_token_count");
  if (!input && !output) {
    return nullptr;
  }
  return Json{{"prompt_tokens", input.value_or(0)},
              {"completion_tokens", output.value_or(0)},
              {"total_tokens", input.value_or(0) + output.value_or(0)}};
}

// The text of a prediction's output: an array of pieces (a language model's) or a string.
std::string outputText(const Json& prediction) {
  auto output = prediction.find("output");
  if (output == prediction.end()) {
    return "";
  }
  if (output->is_string()) {
    return output->get<std::string>();
  }
  std::string text;
  if (output->is_array()) {
    for (const Json& piece : *output) {
      if (piece.is_string()) {
        text += piece.get<std::string>();
      }
    }
  }
  return text;
}

proxy::ApiError predictionError(const Json& prediction) {
  std::string status = stringField(prediction, "status");
  std::string id = stringField(prediction, "id");
  std::string error;
  if (auto e = prediction.find("error"); e != prediction.end() && !e->is_null()) {
    error = e->is_string() ? e->get<std::string>() : e->dump();
  }
  std::string message = "Replicate's prediction " + id + " " +
                        (status == "canceled" ? std::string("was canceled") : "failed") +
                        (error.empty() ? "" : ": " + error);
  return proxy::ApiError{502, "api_error", "upstream_error", std::move(message), ""};
}

proxy::ApiError untranslatable(std::string why) {
  return proxy::ApiError{502, "api_error", "upstream_error",
                         "Replicate sent an answer fwd cannot translate: " + std::move(why), ""};
}

// A prediction (JSON) or Replicate's stream (SSE) as OpenAI's chat completion or its chunks.
class ReplicateAnswer final : public AnswerTranslator {
 public:
  ReplicateAnswer(bool sse, bool stream_out, std::string_view model, bool include_usage)
      : sse_(sse),
        stream_out_(stream_out),
        model_(model),
        include_usage_(include_usage),
        created_(chat::nowSeconds()),
        events_([this](const common::sse::Event& e) { onEvent(e); }) {}

  bool eventStream(bool) const override { return stream_out_; }

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

  bool wantsUsage() const override { return sse_ && done_ && !ended_ && usage_.is_null(); }

  void usageFrom(std::string_view answer) override {
    Json prediction = Json::parse(answer, nullptr, false);
    if (prediction.is_object()) {
      usage_ = usageOf(prediction);
    }
  }

  std::string unsentUsage() const override {
    if (!stream_out_ || include_usage_ || usage_.is_null()) {
      return "";
    }
    return Json{{"usage", usage_}}.dump();
  }

  std::optional<proxy::ApiError> finish() override {
    if (sse_) {
      if (!ended_) {
        ended_ = true;
        if (!done_) {
          // The stream ended cleanly but without its done event: the answer is cut short.
          proxy::ApiError e{502, "api_error", "upstream_error",
                            "Replicate's stream ended before the prediction was done", ""};
          out_ += "data: " + proxy::errorBody(e) + "\n\n";
          return std::nullopt;
        }
        endStream();
      }
      return std::nullopt;
    }
    if (too_big_) {
      return untranslatable("the prediction is larger than 8 MiB");
    }
    Json prediction = Json::parse(held_, nullptr, false);
    if (!prediction.is_object()) {
      return untranslatable("the prediction is not a JSON object");
    }
    if (stringField(prediction, "status") != "succeeded") {
      return predictionError(prediction);
    }
    id_ = "chatcmpl-" + stringField(prediction, "id");
    usage_ = usageOf(prediction);
    std::string text = outputText(prediction);
    if (stream_out_) {
      // No stream URL (a model that does not stream): the whole output as one stream.
      appendChunk(Json::array({{{"index", 0},
                                {"delta", {{"role", "assistant"}, {"content", std::move(text)}}},
                                {"logprobs", nullptr},
                                {"finish_reason", nullptr}}}));
      done_ = true;
      endStream();
      return std::nullopt;
    }
    Json answer = {
        {"id", id_},
        {"object", "chat.completion"},
        {"created", created_},
        {"model", model_},
        {"choices",
         Json::array(
             {{{"index", 0},
               {"message",
                {{"role", "assistant"}, {"content", std::move(text)}, {"refusal", nullptr}}},
               {"logprobs", nullptr},
               {"finish_reason", "stop"}}})}};
    if (!usage_.is_null()) {
      answer["usage"] = usage_;
    }
    out_ = answer.dump(-1, ' ', false, Json::error_handler_t::replace);
    return std::nullopt;
  }

 private:
  void appendChunk(Json choices, Json usage = nullptr) {
    chat::appendChunk(out_, id_, created_, model_, std::move(choices), std::move(usage));
  }

  // The finish chunk, the usage chunk when asked, [DONE].
  void endStream() {
    appendChunk(Json::array({{{"index", 0},
                              {"delta", Json::object()},
                              {"logprobs", nullptr},
                              {"finish_reason", "stop"}}}));
    if (include_usage_ && !usage_.is_null()) {
      appendChunk(Json::array(), usage_);
    }
    out_ += "data: [DONE]\n\n";
  }

  void onEvent(const common::sse::Event& e) {
    if (ended_ || done_) {
      return;
    }
    if (id_.empty()) {
      // Replicate's event ids are "<time>:<n>"; the prediction's id is not in the stream.
      id_ = "chatcmpl-" + std::to_string(created_);
    }
    if (e.event == "output") {
      Json delta = Json::object();
      if (!role_sent_) {
        delta["role"] = "assistant";
        role_sent_ = true;
      }
      delta["content"] = e.data;
      appendChunk(Json::array({{{"index", 0},
                                {"delta", std::move(delta)},
                                {"logprobs", nullptr},
                                {"finish_reason", nullptr}}}));
    } else if (e.event == "error") {
      Json data = Json::parse(e.data, nullptr, false);
      std::string detail = data.is_object() ? stringField(data, "detail") : std::string(e.data);
      proxy::ApiError err{502, "api_error", "upstream_error",
                          "Replicate's prediction failed: " + detail, ""};
      out_ += "data: " + proxy::errorBody(err) + "\n\n";
      ended_ = true;
    } else if (e.event == "done") {
      Json data = Json::parse(e.data, nullptr, false);
      std::string reason = data.is_object() ? stringField(data, "reason") : "";
      if (!reason.empty()) {
        proxy::ApiError err{502, "api_error", "upstream_error",
                            "Replicate's prediction ended: " + reason, ""};
        out_ += "data: " + proxy::errorBody(err) + "\n\n";
        ended_ = true;
        return;
      }
      done_ = true;  // the end goes out in finish(), after the usage is read
    }
  }

  bool sse_;
  bool stream_out_;
  std::string model_;
  bool include_usage_;
  std::int64_t created_;
  common::sse::SseParser events_;
  std::string held_;  // a prediction so far
  bool too_big_ = false;
  std::string id_;
  Json usage_;  // OpenAI's usage, once known
  bool role_sent_ = false;
  bool done_ = false;   // the stream's done event (or the whole prediction) arrived
  bool ended_ = false;  // nothing more goes out
};

// "owner/name" or "owner/name:version", each part 1.. of [A-Za-z0-9._-].
bool isModelName(std::string_view model) {
  size_t slash = model.find('/');
  size_t colon = model.find(':');
  if (slash == std::string_view::npos || slash == 0 || model.find('/', slash + 1) != model.npos) {
    return false;
  }
  std::string_view name =
      model.substr(slash + 1, colon == model.npos ? model.npos : colon - slash - 1);
  if (name.empty() || (colon != model.npos && (colon < slash || colon + 1 == model.size()))) {
    return false;
  }
  for (char c : model) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ||
          c == '/' || c == ':')) {
      return false;
    }
  }
  // Path segments: never "." or "..".
  std::string_view owner = model.substr(0, slash);
  return owner != "." && owner != ".." && name != "." && name != "..";
}

class Replicate final : public Provider {
 public:
  explicit Replicate(ReplicateOptions options) : options_(std::move(options)) {}

  std::string_view name() const override { return "replicate"; }

  void writeRequestHead(const OutgoingRequest& r, const config::UpstreamTarget& t,
                        std::string& out) const override {
    out.clear();
    out.append("POST ").append(t.base_path);
    std::string_view model = r.model;
    if (size_t colon = model.find(':'); colon != std::string_view::npos) {
      out.append("/predictions");
    } else {
      out.append("/models/").append(model).append("/predictions");
    }
    out.append(" HTTP/1.1\r\n");
    if (!r.upstream_stream) {
      // The whole prediction in this answer when it is quick: Replicate holds the answer back up
      // to N seconds (at most 60), which stays within the first-byte timeout.
      auto seconds = std::chrono::duration_cast<std::chrono::seconds>(r.first_byte).count() - 1;
      char wait[48];
      auto [end, ec] =
          std::to_chars(wait, wait + sizeof wait, std::clamp<std::int64_t>(seconds, 1, 60));
      out.append("Prefer: wait=").append(wait, end).append("\r\n");
    }
    appendHeadFields(r, t, out);
  }

  bool listsModels() const override { return false; }
  bool rewritesErrors() const override { return true; }
  bool translates() const override { return true; }
  bool followsUp() const override { return true; }
  std::string_view followUpDomain() const override { return "replicate.com"; }

  std::string probeTarget(const config::UpstreamTarget& upstream,
                          std::string_view path) const override {
    // Replicate has no /models list of its own under the API: a probe reads the account.
    return upstream.base_path + (path == "/models" ? std::string("/account") : std::string(path));
  }

  proxy::ApiError errorAnswer(int status, std::string_view body) const override {
    Json problem = Json::parse(body, nullptr, false);
    proxy::ApiError e;
    e.status = status;
    if (problem.is_object()) {
      e.message = stringField(problem, "detail");
      if (e.message.empty()) {
        e.message = stringField(problem, "title");
      }
    }
    if (e.message.empty()) {
      e.message = "Replicate answered " + std::to_string(status);
    }
    switch (status) {
      case 401:
        e.code = "invalid_api_key";
        break;
      case 402:  // out of credit, or the account's spend limit
        e.status = 429;
        e.type = "insufficient_quota";
        e.code = "insufficient_quota";
        break;
      case 404:
        e.code = "model_not_found";
        e.param = "model";
        break;
      case 422:
        e.status = 400;
        e.code = "invalid_value";
        break;
      case 429:
        e.code = "rate_limit_exceeded";
        break;
      default:
        break;
    }
    if (e.type.empty()) {
      e.type = std::string(openAiErrorType(e.status));
    }
    return e;
  }

  Translation translateRequest(std::string_view api_path, std::string_view body,
                               std::string& out) const override {
    Translation t;
    Json request;
    if ((t.error = chat::chatRequest(api_path, body, "Replicate (provider replicate)", request))) {
      return t;
    }
    std::string model = stringField(request, "model");
    if (!isModelName(model)) {
      t.error = proxy::invalidRequest(404,
                                      "The model `" + model +
                                          "` is not a Replicate model name (owner/name or "
                                          "owner/name:version).",
                                      "model_not_found", "model");
      return t;
    }
    Json input = Json::object();
    std::vector<Turn> turns;
    for (auto& [key, value] : request.items()) {
      if (key == "model") {
        continue;
      } else if (key == "messages") {
        if (auto e = turnsOf(value, turns)) {
          t.error = std::move(e);
          return t;
        }
      } else if (key == "stream") {
        t.stream = value.is_boolean() && value.get<bool>();
      } else if (key == "stream_options") {
        t.include_usage = value.is_object() && value.contains("include_usage") &&
                          value["include_usage"].is_boolean() && value["include_usage"].get<bool>();
      } else if (key == "max_tokens" || key == "max_completion_tokens") {
        // Replicate's models name it either way: both go.
        input["max_tokens"] = value;
        input["max_new_tokens"] = value;
      } else if (key == "stop") {
        // One comma-separated string, as Replicate's language models take it.
        std::string joined;
        const Json list = value.is_string() ? Json::array({value}) : value;
        if (!list.is_array()) {
          t.error = proxy::invalidRequest(400, "'stop' must be a string or an array of strings.",
                                          "invalid_type", "stop");
          return t;
        }
        for (const Json& s : list) {
          if (!s.is_string() || s.get_ref<const std::string&>().find(',') != std::string::npos) {
            t.error = unsupported("stop",
                                  "must be strings without commas for Replicate (provider "
                                  "replicate): its models take stop sequences comma-separated");
            return t;
          }
          joined += (joined.empty() ? "" : ",") + s.get<std::string>();
        }
        if (!joined.empty()) {
          input["stop_sequences"] = joined;
        }
      } else if (key == "n") {
        if (!value.is_number_integer() || value.get<std::int64_t>() != 1) {
          t.error = unsupported("n",
                                "must be 1 for Replicate (provider replicate): a prediction "
                                "has one output");
          return t;
        }
      } else if (among(kSameName, key)) {
        input[key] = value;
      } else if (!among(kDropped, key)) {
        t.error = unsupported(key,
                              "is not supported by Replicate's language models (provider "
                              "replicate); remove it");
        return t;
      }
    }
    if (turns.empty()) {
      t.error = proxy::invalidRequest(400, "'messages' is required.", "missing_required_parameter",
                                      "messages");
      return t;
    }
    if (!t.stream) {
      t.include_usage = false;
    }
    Json prediction = Json::object();
    if (model.find(':') != std::string::npos) {
      // Replicate takes "owner/name:version" there: the version runs only as that model's.
      prediction["version"] = model;
    }
    // fwd renders the messages itself: the model's own template must leave the prompt as it is.
    input["prompt"] = renderPrompt(templateOf(model), turns);
    input["prompt_template"] = "{prompt}";
    prediction["input"] = std::move(input);
    prediction["stream"] = t.stream;
    out = prediction.dump(-1, ' ', false, Json::error_handler_t::replace);
    return t;
  }

  NextStep nextStep(std::string_view answer, const Translation& translation) const override {
    NextStep step;
    Json prediction = Json::parse(answer, nullptr, false);
    if (!prediction.is_object()) {
      step.kind = NextStep::Kind::kFail;
      step.error = untranslatable("the prediction is not a JSON object");
      return step;
    }
    std::string status = stringField(prediction, "status");
    if (status == "succeeded") {
      return step;  // kAnswer
    }
    if (status == "failed" || status == "canceled" || status == "aborted") {
      step.kind = NextStep::Kind::kFail;
      step.error = predictionError(prediction);
      return step;
    }
    Json urls = prediction.contains("urls") && prediction["urls"].is_object() ? prediction["urls"]
                                                                              : Json::object();
    std::string get = stringField(urls, "get");
    std::string stream = stringField(urls, "stream");
    step.kind = NextStep::Kind::kFetch;
    step.cancel_url = stringField(urls, "cancel");
    if (translation.stream && !stream.empty()) {
      step.url = std::move(stream);
      step.event_stream = true;
      step.usage_url = std::move(get);
      return step;
    }
    if (get.empty()) {
      step.kind = NextStep::Kind::kFail;
      step.error = untranslatable("the prediction (status " + status + ") has no urls.get");
      return step;
    }
    step.url = std::move(get);
    step.delay = kPollInterval;
    return step;
  }

  std::unique_ptr<AnswerTranslator> answerTranslator(bool sse, std::string_view model,
                                                     bool include_usage,
                                                     bool stream_asked) const override {
    return std::make_unique<ReplicateAnswer>(sse, sse || stream_asked, model, include_usage);
  }

 private:
  // The model's own entry (its version's first), else "*"'s, else the default.
  std::string_view templateOf(std::string_view model) const {
    std::string_view unversioned = model.substr(0, model.find(':'));
    for (std::string_view key : {model, unversioned, std::string_view("*")}) {
      for (const auto& [k, name] : options_.prompt_templates) {
        if (k == key) {
          return name;
        }
      }
    }
    return common::config::kDefaultPromptTemplate;
  }

  ReplicateOptions options_;
};

}  // namespace

std::shared_ptr<const Provider> replicate(ReplicateOptions options) {
  return std::make_shared<Replicate>(std::move(options));
}

}  // namespace fwd::dataplane::provider
