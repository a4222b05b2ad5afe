// OpenAI-shaped request inspection and response bodies for the fake upstream.
#include "tests/fakes/fake_llm.h"

#include <openssl/evp.h>

#include <bit>
#include <charconv>
#include <ctime>

#include "common/text/json_escape.h"
#include "simdjson.h"

namespace fwd::fakes {
namespace {

constexpr std::string_view kStatusModelPrefix = "fake-status-";

void appendId(std::string& out, std::string_view prefix, std::uint64_t id) {
  out += '"';
  out += prefix;
  appendInt(out, static_cast<std::int64_t>(id));
  out += '"';
}

void appendCreated(std::string& out) {
  out += "\"created\":";
  appendInt(out, static_cast<std::int64_t>(std::time(nullptr)));
}

void appendUsage(std::string& out, int completion_tokens) {
  out += "\"usage\":{\"prompt_tokens\":";
  appendInt(out, kPromptTokens);
  out += ",\"completion_tokens\":";
  appendInt(out, completion_tokens);
  out += ",\"total_tokens\":";
  appendInt(out, kPromptTokens + completion_tokens);
  out +=
      ",\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0}"
      ",\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
      "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}";
}

// Tokens "Hello", " from", " <NAME>" make up the non-streamed answer.
constexpr int kAnswerTokens = 3;
constexpr int kEmbeddingSize = 8;

}  // namespace

BodyInfo inspectBody(std::string& body) {
  BodyInfo info;
  if (body.capacity() < body.size() + kJsonPadding) {
    body.reserve(body.size() + kJsonPadding);
  }
  // One parser per thread: after warm-up it reuses its buffers, so reading costs no allocation.
  thread_local simdjson::ondemand::parser parser;
  simdjson::padded_string_view view(body.data(), body.size(), body.capacity());
  simdjson::ondemand::document doc;
  if (parser.iterate(view).get(doc) != simdjson::SUCCESS) {
    return info;
  }
  simdjson::ondemand::object object;
  if (doc.get_object().get(object) != simdjson::SUCCESS) {
    return info;
  }
  for (auto field : object) {
    std::string_view key;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS) {
      return info;
    }
    simdjson::ondemand::value value;
    if (field.value().get(value) != simdjson::SUCCESS) {
      return info;
    }
    if (key == "model") {
      std::string_view model;
      if (value.get_string().get(model) == simdjson::SUCCESS) {
        info.model.assign(model);
      }
    } else if (key == "stream") {
      bool stream = false;
      if (value.get_bool().get(stream) == simdjson::SUCCESS) {
        info.stream = stream;
      }
    } else if (key == "stream_options") {
      simdjson::ondemand::object options;
      if (value.get_object().get(options) == simdjson::SUCCESS) {
        bool include = false;
        if (options["include_usage"].get_bool().get(include) == simdjson::SUCCESS) {
          info.include_usage = include;
        }
      }
    } else if (key == "encoding_format") {
      std::string_view format;
      if (value.get_string().get(format) == simdjson::SUCCESS) {
        info.base64 = format == "base64";
      }
    } else if (key == "input") {
      simdjson::ondemand::array array;
      if (value.get_array().get(array) == simdjson::SUCCESS) {
        size_t count = 0;
        if (array.count_elements().get(count) == simdjson::SUCCESS) {
          info.inputs = static_cast<int>(count);
        }
      }
    }
  }
  info.json_ok = true;
  if (info.model.starts_with(kStatusModelPrefix)) {
    std::string_view digits = std::string_view(info.model).substr(kStatusModelPrefix.size());
    int status = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), status);
    if (ec == std::errc() && end == digits.data() + digits.size() && status >= 100 &&
        status <= 599) {
      info.status_from_model = status;
    }
  }
  return info;
}

bool parseModelsControl(std::string& body, ModelsControl& out) {
  if (body.capacity() < body.size() + kJsonPadding) {
    body.reserve(body.size() + kJsonPadding);
  }
  simdjson::ondemand::parser parser;
  simdjson::padded_string_view view(body.data(), body.size(), body.capacity());
  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (parser.iterate(view).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(object) != simdjson::SUCCESS) {
    return false;
  }
  for (auto field : object) {
    std::string_view key;
    simdjson::ondemand::value value;
    if (field.unescaped_key().get(key) != simdjson::SUCCESS ||
        field.value().get(value) != simdjson::SUCCESS) {
      return false;
    }
    if (key == "models") {
      simdjson::ondemand::array array;
      if (value.get_array().get(array) != simdjson::SUCCESS) {
        return false;
      }
      out.has_models = true;
      for (auto element : array) {
        std::string_view model;
        if (element.get_string().get(model) != simdjson::SUCCESS) {
          return false;
        }
        out.models.emplace_back(model);
      }
    } else if (key == "status" || key == "stall_ms") {
      std::int64_t number = 0;
      if (value.get_int64().get(number) != simdjson::SUCCESS) {
        return false;
      }
      if (key == "status") {
        if (number != 0 && (number < 100 || number > 599)) {
          return false;
        }
        out.has_status = true;
        out.status = static_cast<int>(number);
      } else {
        if (number < 0 || number > 600000) {
          return false;
        }
        out.has_stall_ms = true;
        out.stall_ms = static_cast<int>(number);
      }
    }
  }
  return true;
}

void appendToken(std::string& out, int i, std::string_view name) {
  switch (i) {
    case 0:
      out += "Hello";
      return;
    case 1:
      out += " from";
      return;
    case 2:
      out += ' ';
      out += name;
      return;
    default:
      out += " t";
      appendInt(out, i);
  }
}

void appendJsonString(std::string& out, std::string_view s) {
  out += '"';
  common::text::appendJsonEscaped(out, s);
  out += '"';
}

void appendInt(std::string& out, std::int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, end);
}

namespace {

// {"id":"<prefix>-<id>","object":"<object>","created":...,"model":"<model>" — how every answer
// and chunk of the fake starts.
void appendObjectHead(std::string& out, std::string_view id_prefix, std::uint64_t id,
                      std::string_view object, std::string_view model) {
  out += "{\"id\":";
  appendId(out, id_prefix, id);
  out += ",\"object\":\"";
  out += object;
  out += "\",";
  appendCreated(out);
  out += ",\"model\":";
  appendJsonString(out, model);
}

// The head of a stream chunk of `kind`.
void appendChunkHead(std::string& out, StreamKind kind, std::uint64_t id, std::string_view model) {
  if (kind == StreamKind::kChat) {
    appendObjectHead(out, "chatcmpl-fake", id, "chat.completion.chunk", model);
  } else {
    appendObjectHead(out, "cmpl-fake", id, "text_completion", model);
  }
}

}  // namespace

void appendChatCompletion(std::string& out, std::uint64_t id, std::string_view model,
                          std::string_view name) {
  appendObjectHead(out, "chatcmpl-fake", id, "chat.completion", model);
  out += ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":";
  std::string content;
  for (int i = 0; i < kAnswerTokens; ++i) {
    appendToken(content, i, name);
  }
  appendJsonString(out, content);
  out += ",\"refusal\":null,\"annotations\":[]},\"logprobs\":null,\"finish_reason\":\"stop\"}],";
  appendUsage(out, kAnswerTokens);
  out += ",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_fake\"}";
}

void appendTextCompletion(std::string& out, std::uint64_t id, std::string_view model,
                          std::string_view name) {
  appendObjectHead(out, "cmpl-fake", id, "text_completion", model);
  out += ",\"choices\":[{\"text\":";
  std::string text;
  for (int i = 0; i < kAnswerTokens; ++i) {
    appendToken(text, i, name);
  }
  appendJsonString(out, text);
  out += ",\"index\":0,\"logprobs\":null,\"finish_reason\":\"stop\"}],";
  appendUsage(out, kAnswerTokens);
  out += ",\"system_fingerprint\":\"fp_fake\"}";
}

void appendStreamChunk(std::string& out, StreamKind kind, std::uint64_t id, std::string_view model,
                       std::string_view name, int index, int count) {
  std::string token;
  appendToken(token, index, name);
  const bool last = index + 1 >= count;
  appendChunkHead(out, kind, id, model);
  out += ",\"system_fingerprint\":\"fp_fake\",\"choices\":[{\"index\":0,";
  if (kind == StreamKind::kChat) {
    out +=
        index == 0 ? "\"delta\":{\"role\":\"assistant\",\"content\":" : "\"delta\":{\"content\":";
    appendJsonString(out, token);
    out += "},";
  } else {
    out += "\"text\":";
    appendJsonString(out, token);
    out += ',';
  }
  out += "\"logprobs\":null,\"finish_reason\":";
  out += last ? "\"stop\"" : "null";
  out += "}]}";
}

namespace {

constexpr std::string_view kToolArguments = R"({"city":"Paris"})";

}  // namespace

void appendToolCallCompletion(std::string& out, std::uint64_t id, std::string_view model) {
  appendObjectHead(out, "chatcmpl-fake", id, "chat.completion", model);
  out +=
      ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,"
      "\"refusal\":null,\"tool_calls\":[{\"id\":\"call_fake\",\"type\":\"function\","
      "\"function\":{\"name\":\"get_weather\",\"arguments\":";
  appendJsonString(out, kToolArguments);
  out += "}}]},\"logprobs\":null,\"finish_reason\":\"tool_calls\"}],";
  appendUsage(out, kAnswerTokens);
  out += ",\"system_fingerprint\":\"fp_fake\"}";
}

void appendToolCallChunk(std::string& out, std::uint64_t id, std::string_view model, int index,
                         int count) {
  appendObjectHead(out, "chatcmpl-fake", id, "chat.completion.chunk", model);
  out += ",\"system_fingerprint\":\"fp_fake\",\"choices\":[{\"index\":0,\"delta\":{";
  // The arguments in count-1 pieces after the first chunk (all of them in it when count is 1).
  const size_t n = kToolArguments.size();
  const size_t pieces = count > 1 ? static_cast<size_t>(count - 1) : 1;
  std::string_view arguments;
  if (count == 1) {
    arguments = kToolArguments;
  } else if (index > 0) {
    size_t from = n * static_cast<size_t>(index - 1) / pieces;
    size_t to = n * static_cast<size_t>(index) / pieces;
    arguments = kToolArguments.substr(from, to - from);
  }
  if (index == 0) {
    out +=
        "\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":"
        "\"call_fake\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"arguments\":";
  } else {
    out += "\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":";
  }
  appendJsonString(out, arguments);
  out += "}}]},\"logprobs\":null,\"finish_reason\":";
  out += index + 1 >= count ? "\"tool_calls\"" : "null";
  out += "}]}";
}

void appendErrorObject(std::string& out) {
  out +=
      "{\"error\":{\"message\":\"fake upstream: this model's maximum context length is 8192 "
      "tokens\",\"type\":\"invalid_request_error\",\"param\":\"messages\",\"code\":"
      "\"context_length_exceeded\"}}";
}

void appendUsageChunk(std::string& out, StreamKind kind, std::uint64_t id, std::string_view model,
                      int count) {
  appendChunkHead(out, kind, id, model);
  out += ",\"system_fingerprint\":\"fp_fake\",\"choices\":[],";
  appendUsage(out, count);
  out += '}';
}

void appendEmbeddings(std::string& out, std::string_view model, int inputs, bool base64) {
  out += "{\"object\":\"list\",\"data\":[";
  for (int i = 0; i < inputs; ++i) {
    if (i > 0) {
      out += ',';
    }
    out += "{\"object\":\"embedding\",\"index\":";
    appendInt(out, i);
    out += ",\"embedding\":";
    // Deterministic, distinct per input (a test can tell the vectors apart), and multiples of
    // 1/16 so float32 and the decimal text are exact.
    float values[kEmbeddingSize];
    for (int k = 0; k < kEmbeddingSize; ++k) {
      values[k] = static_cast<float>((i + 1) * (k + 3) % 17) / 16.0f - 0.5f;
    }
    if (base64) {
      static_assert(std::endian::native == std::endian::little);
      unsigned char encoded[((sizeof(values) + 2) / 3) * 4 + 1];
      int n =
          EVP_EncodeBlock(encoded, reinterpret_cast<const unsigned char*>(values), sizeof(values));
      out += '"';
      out.append(reinterpret_cast<const char*>(encoded), static_cast<size_t>(n));
      out += "\"}";
      continue;
    }
    out += '[';
    for (int k = 0; k < kEmbeddingSize; ++k) {
      if (k > 0) {
        out += ',';
      }
      char buf[32];
      auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), values[k]);
      out.append(buf, end);
    }
    out += "]}";
  }
  out += "],\"model\":";
  appendJsonString(out, model);
  out += ",\"usage\":{\"prompt_tokens\":";
  appendInt(out, kPromptTokens);
  out += ",\"total_tokens\":";
  appendInt(out, kPromptTokens);
  out += "}}";
}

void appendTranscription(std::string& out, std::string_view name, std::string_view body,
                         std::string_view content_type) {
  out += "{\"text\":";
  appendJsonString(out, std::string("transcribed by ") + std::string(name));
  out += ",\"fake_received_bytes\":";
  appendInt(out, static_cast<std::int64_t>(body.size()));
  out += ",\"fake_sha256\":\"";
  out += sha256Hex(body);
  out += "\",\"fake_content_type\":";
  appendJsonString(out, content_type);
  out += '}';
}

void appendModelList(std::string& out, const std::vector<std::string>& models) {
  out += "{\"object\":\"list\",\"data\":[";
  bool first = true;
  for (const std::string& model : models) {
    if (!first) {
      out += ',';
    }
    first = false;
    out += "{\"id\":";
    appendJsonString(out, model);
    out += ",\"object\":\"model\",\"created\":1700000000,\"owned_by\":\"fake\"}";
  }
  out += "]}";
}

void appendError(std::string& out, int status, std::string_view message) {
  std::string_view type = "invalid_request_error";
  std::string_view code;  // empty: null
  if (status == 401) {
    code = "invalid_api_key";
  } else if (status == 429) {
    type = "requests";
    code = "rate_limit_exceeded";
  } else if (status >= 500) {
    type = "server_error";
  }
  out += "{\"error\":{\"message\":";
  appendJsonString(out, message);
  out += ",\"type\":";
  appendJsonString(out, type);
  out += ",\"param\":null,\"code\":";
  if (code.empty()) {
    out += "null";
  } else {
    appendJsonString(out, code);
  }
  out += "}}";
}

std::string sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
}

}  // namespace fwd::fakes
