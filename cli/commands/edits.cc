#include "cli/commands/edits.h"

#include <algorithm>
#include <functional>

#include "cli/client/error_kind.h"
#include "common/config/stream_mode.h"

namespace fwd::cli::commands {
namespace {

using client::usageError;

std::string quotedJson(const std::string& text) { return Json(text).dump(); }

}  // namespace

std::vector<FlagSpec> editsFlags(bool update) {
  std::vector<FlagSpec> flags = {
      {"max-tokens-cap", FlagKind::kValue, "N",
       "clamp max_tokens and max_completion_tokens to N, set when absent"},
      {"stop", FlagKind::kRepeated, "WORD", "stop word added to the client's, repeatable"},
      {"drop-empty-messages", FlagKind::kBool, "", "remove messages with empty content"},
      {"strip-think", FlagKind::kBool, "",
       "remove <think>...</think> from assistant messages in the history"},
      {"answer-prefix", FlagKind::kValue, "TEXT",
       "prepended to the first choice's content of each answer (at most 4 KiB)"},
      {"stream-mode", FlagKind::kValue, "MODE",
       "what the upstream is asked for chat and text completions: passthrough (as the client "
       "asked), stream (always; assembled into one answer for a client that asked for none) or "
       "non-stream (never; sent as stream events to a client that asked for a stream)"},
  };
  if (update) {
    for (const char* name : {"max-tokens-cap", "stop", "drop-empty-messages", "strip-think",
                             "answer-prefix", "stream-mode"}) {
      flags.push_back(
          {std::string("clear-") + name, FlagKind::kBool, "", std::string("unset --") + name});
    }
  }
  return flags;
}

std::string editsSynopsis(bool update) {
  std::string out =
      "[--max-tokens-cap N] [--stop WORD]... [--drop-empty-messages] [--strip-think] "
      "[--answer-prefix TEXT] [--stream-mode passthrough|stream|non-stream]";
  if (update) {
    out +=
        " [--clear-max-tokens-cap] [--clear-stop] [--clear-drop-empty-messages] "
        "[--clear-strip-think] [--clear-answer-prefix] [--clear-stream-mode]";
  }
  return out;
}

const std::vector<std::string>& editsPaths() {
  static const std::vector<std::string> kPaths = {"edits.max_tokens_cap",      "edits.stop",
                                                  "edits.drop_empty_messages", "edits.strip_think",
                                                  "edits.answer_prefix",       "edits.stream_mode"};
  return kPaths;
}

absl::Status applyEditsFlags(const FlagValues& flags, const std::function<fwd::v1::Edits&()>& edits,
                             std::vector<std::string>& paths) {
  for (const char* name : {"max-tokens-cap", "stop", "drop-empty-messages", "strip-think",
                           "answer-prefix", "stream-mode"}) {
    std::string clear = std::string("clear-") + name;
    if (flags.has(clear) && flags.has(name)) {
      return usageError("--" + clear + " and --" + name + " cannot be used together");
    }
    if (flags.has(clear) && flags.boolValue(clear) == true) {
      edits();  // present, with the field unset: the update unsets it
      std::string field = name;
      std::replace(field.begin(), field.end(), '-', '_');
      paths.push_back("edits." + field);
    }
  }
  auto cap = flags.uint32Value("max-tokens-cap");
  if (!cap.ok()) {
    return cap.status();
  }
  if (cap->has_value()) {
    if (**cap == 0) {
      return usageError(
          "--max-tokens-cap must be at least 1 (to remove a cap, use --clear-max-tokens-cap)");
    }
    edits().set_max_tokens_cap(**cap);
    paths.push_back("edits.max_tokens_cap");
  }
  if (flags.has("stop")) {
    fwd::v1::Edits& e = edits();
    for (const std::string& word : flags.values("stop")) {
      if (word.empty()) {
        return usageError("--stop is empty");
      }
      e.add_stop(word);
    }
    paths.push_back("edits.stop");
  }
  if (auto v = flags.boolValue("drop-empty-messages")) {
    edits().set_drop_empty_messages(*v);
    paths.push_back("edits.drop_empty_messages");
  }
  if (auto v = flags.boolValue("strip-think")) {
    edits().set_strip_think(*v);
    paths.push_back("edits.strip_think");
  }
  if (auto v = flags.value("answer-prefix")) {
    edits().set_answer_prefix(*v);
    paths.push_back("edits.answer_prefix");
  }
  if (auto v = flags.value("stream-mode")) {
    std::optional<int> mode = common::config::parseStreamMode(*v);
    if (!mode) {
      return usageError("--stream-mode must be passthrough, stream or non-stream, got \"" + *v +
                        "\"");
    }
    edits().set_stream_mode(static_cast<fwd::v1::StreamMode>(*mode));
    paths.push_back("edits.stream_mode");
  }
  return absl::OkStatus();
}

std::string editsCell(const fwd::v1::Edits& e) {
  std::string out;
  auto add = [&out](const std::string& part) { out += (out.empty() ? "" : ", ") + part; };
  if (e.has_max_tokens_cap()) {
    add("max_tokens_cap " + std::to_string(e.max_tokens_cap()));
  }
  if (e.stop_size() > 0) {
    std::string words;
    for (const std::string& w : e.stop()) {
      words += (words.empty() ? "" : ",") + quotedJson(w);
    }
    add("stop [" + words + "]");
  }
  if (e.has_drop_empty_messages()) {
    add(e.drop_empty_messages() ? "drop_empty_messages" : "drop_empty_messages off");
  }
  if (e.has_strip_think()) {
    add(e.strip_think() ? "strip_think" : "strip_think off");
  }
  if (e.has_answer_prefix()) {
    add("answer_prefix " + quotedJson(e.answer_prefix()));
  }
  if (e.has_stream_mode()) {
    add("stream_mode " + std::string(common::config::streamModeName(e.stream_mode())));
  }
  return out.empty() ? "-" : out;
}

Json editsJson(const fwd::v1::Edits& e) {
  Json stop = Json::array();
  for (const std::string& w : e.stop()) {
    stop.push_back(w);
  }
  return Json{
      {"max_tokens_cap", e.has_max_tokens_cap() ? Json(e.max_tokens_cap()) : Json(nullptr)},
      {"stop", std::move(stop)},
      {"drop_empty_messages",
       e.has_drop_empty_messages() ? Json(e.drop_empty_messages()) : Json(nullptr)},
      {"strip_think", e.has_strip_think() ? Json(e.strip_think()) : Json(nullptr)},
      {"answer_prefix", e.has_answer_prefix() ? Json(e.answer_prefix()) : Json(nullptr)},
      {"stream_mode", e.has_stream_mode()
                          ? Json(std::string(common::config::streamModeName(e.stream_mode())))
                          : Json(nullptr)},
  };
}

}  // namespace fwd::cli::commands
