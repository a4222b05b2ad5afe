#include "cli/commands/chat_log.h"

#include <ctime>
#include <string>

namespace fwd::cli::commands {
namespace {

std::string_view trimmed(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) {
    return {};
  }
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

Json parsed(std::string_view text) {
  return Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
}

const Json* firstChoice(const Json& doc) {
  if (!doc.is_object() || !doc.contains("choices") || !doc["choices"].is_array()) {
    return nullptr;
  }
  for (const Json& choice : doc["choices"]) {
    if (choice.is_object() && choice.value("index", 0) == 0) {
      return &choice;
    }
  }
  return nullptr;
}

// Adds a stream chunk's tool-call deltas to `calls`, by their index.
void mergeToolCalls(const Json& deltas, Json& calls) {
  for (const Json& d : deltas) {
    if (!d.is_object()) {
      continue;
    }
    size_t index = d.value("index", calls.size());
    while (calls.size() <= index) {
      calls.push_back(Json{
          {"id", ""}, {"type", "function"}, {"function", Json{{"name", ""}, {"arguments", ""}}}});
    }
    Json& call = calls[index];
    if (d.contains("id") && d["id"].is_string()) {
      call["id"] = d["id"];
    }
    if (d.contains("function") && d["function"].is_object()) {
      const Json& f = d["function"];
      if (f.contains("name") && f["name"].is_string()) {
        call["function"]["name"] =
            call["function"]["name"].get<std::string>() + f["name"].get<std::string>();
      }
      if (f.contains("arguments") && f["arguments"].is_string()) {
        call["function"]["arguments"] =
            call["function"]["arguments"].get<std::string>() + f["arguments"].get<std::string>();
      }
    }
  }
}

std::string datetime(const google::protobuf::Timestamp& ts) {
  std::time_t t = static_cast<std::time_t>(ts.seconds());
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &tm);
  return text;
}

}  // namespace

AssistantTurn assistantTurn(std::string_view answer) {
  AssistantTurn turn;
  std::string_view body = trimmed(answer);
  if (body.starts_with('{')) {
    Json doc = parsed(body);
    if (const Json* choice = firstChoice(doc);
        choice != nullptr && choice->contains("message") && (*choice)["message"].is_object()) {
      const Json& message = (*choice)["message"];
      if (message.contains("content") && message["content"].is_string()) {
        turn.content = message["content"].get<std::string>();
      }
      if (message.contains("tool_calls") && message["tool_calls"].is_array()) {
        turn.tool_calls = message["tool_calls"];
      }
    }
    return turn;
  }
  // A stream: each "data:" line holds a chunk.
  size_t at = 0;
  while (at < body.size()) {
    size_t end = body.find('\n', at);
    std::string_view line = body.substr(at, end == std::string_view::npos ? end : end - at);
    at = end == std::string_view::npos ? body.size() : end + 1;
    if (!line.starts_with("data:")) {
      continue;
    }
    std::string_view data = trimmed(line.substr(5));
    if (data.empty() || data == "[DONE]") {
      continue;
    }
    Json chunk = parsed(data);
    const Json* choice = firstChoice(chunk);
    if (choice == nullptr || !choice->contains("delta") || !(*choice)["delta"].is_object()) {
      continue;
    }
    const Json& delta = (*choice)["delta"];
    if (delta.contains("content") && delta["content"].is_string()) {
      turn.content += delta["content"].get<std::string>();
    }
    if (delta.contains("tool_calls") && delta["tool_calls"].is_array()) {
      mergeToolCalls(delta["tool_calls"], turn.tool_calls);
    }
  }
  return turn;
}

std::optional<Json> chatLogEntry(const fwd::v1::Record& r) {
  if (!r.path().ends_with("/chat/completions") || r.request_body().empty()) {
    return std::nullopt;
  }
  Json request = parsed(r.request_body());
  if (!request.is_object() || !request.contains("messages") || !request["messages"].is_array()) {
    return std::nullopt;
  }
  AssistantTurn turn = assistantTurn(r.response_body());
  bool tool_calls = !turn.tool_calls.empty();
  return Json{{"datetime", datetime(r.time())},
              {"ip", r.client_ip()},
              {"model", r.model()},
              {"messages", std::move(request["messages"])},
              {"assistant", tool_calls ? std::move(turn.tool_calls) : Json(turn.content)},
              {"is_tool_calls", tool_calls}};
}

}  // namespace fwd::cli::commands
