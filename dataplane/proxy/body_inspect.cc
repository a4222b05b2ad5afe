#include "dataplane/proxy/body_inspect.h"

#include <algorithm>
#include <boost/beast/core/string.hpp>

namespace fwd::dataplane::proxy {
namespace {

constexpr int kMaxDepth = 128;

// Touches every value so that malformed input anywhere in the document is an error.
simdjson::error_code validateValue(simdjson::ondemand::value value, int depth) {
  if (depth > kMaxDepth) {
    return simdjson::DEPTH_ERROR;
  }
  simdjson::ondemand::json_type type;
  if (auto err = value.type().get(type)) {
    return err;
  }
  switch (type) {
    case simdjson::ondemand::json_type::object: {
      simdjson::ondemand::object object;
      if (auto err = value.get_object().get(object)) {
        return err;
      }
      for (auto field : object) {
        std::string_view key;
        if (auto err = field.unescaped_key().get(key)) {
          return err;
        }
        simdjson::ondemand::value child;
        if (auto err = field.value().get(child)) {
          return err;
        }
        if (auto err = validateValue(child, depth + 1)) {
          return err;
        }
      }
      return simdjson::SUCCESS;
    }
    case simdjson::ondemand::json_type::array: {
      simdjson::ondemand::array array;
      if (auto err = value.get_array().get(array)) {
        return err;
      }
      for (auto element : array) {
        simdjson::ondemand::value child;
        if (auto err = element.get(child)) {
          return err;
        }
        if (auto err = validateValue(child, depth + 1)) {
          return err;
        }
      }
      return simdjson::SUCCESS;
    }
    case simdjson::ondemand::json_type::string: {
      std::string_view s;
      return value.get_string().get(s);
    }
    case simdjson::ondemand::json_type::number: {
      simdjson::ondemand::number n;
      return value.get_number().get(n);
    }
    case simdjson::ondemand::json_type::boolean: {
      bool b;
      return value.get_bool().get(b);
    }
    case simdjson::ondemand::json_type::null: {
      bool is_null = false;
      if (auto err = value.is_null().get(is_null)) {
        return err;
      }
      return is_null ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
    }
  }
  return simdjson::INCORRECT_TYPE;
}

std::string parseErrorMessage(simdjson::error_code err) {
  return std::string("We could not parse the JSON body of your request (") +
         simdjson::error_message(err) +
         "). The OpenAI API expects a JSON payload; check that it is valid JSON.";
}

}  // namespace

bool isJsonContentType(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && media.back() == ' ') {
    media.remove_suffix(1);
  }
  constexpr std::string_view kJson = "application/json";
  return boost::beast::iequals(media, kJson);
}

bool inspectJsonBody(simdjson::ondemand::parser& parser, std::string& body, BodyInfo& info,
                     BodyError& error) {
  if (body.capacity() < body.size() + simdjson::SIMDJSON_PADDING) {
    body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  }
  simdjson::padded_string_view view(body.data(), body.size(), body.capacity());
  simdjson::ondemand::document doc;
  if (auto err = parser.iterate(view).get(doc)) {
    error.message = parseErrorMessage(err);
    return false;
  }
  simdjson::ondemand::object object;
  if (auto err = doc.get_object().get(object)) {
    error.message = err == simdjson::INCORRECT_TYPE ? "The request body must be a JSON object."
                                                    : parseErrorMessage(err);
    return false;
  }
  for (auto field : object) {
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) {
      error.message = parseErrorMessage(err);
      return false;
    }
    simdjson::ondemand::value value;
    if (auto err = field.value().get(value)) {
      error.message = parseErrorMessage(err);
      return false;
    }
    if (key == "model") {
      std::string_view model;
      if (auto err = value.get_string().get(model)) {
        error.message =
            err == simdjson::INCORRECT_TYPE ? "'model' must be a string." : parseErrorMessage(err);
        error.param = "model";
        return false;
      }
      info.has_model = true;
      info.model.assign(model);
    } else if (key == "stream") {
      bool is_null = false;
      if (value.is_null().get(is_null) == simdjson::SUCCESS && is_null) {
        continue;
      }
      if (auto err = value.get_bool().get(info.stream)) {
        error.message = err == simdjson::INCORRECT_TYPE ? "'stream' must be a boolean."
                                                        : parseErrorMessage(err);
        error.param = "stream";
        return false;
      }
    } else if (auto err = validateValue(value, 1)) {
      error.message = parseErrorMessage(err);
      return false;
    }
  }
  // Anything after the object (a second document, stray characters) is malformed input.
  const char* trailing = nullptr;
  if (doc.current_location().get(trailing) == simdjson::SUCCESS) {
    error.message = parseErrorMessage(simdjson::TRAILING_CONTENT);
    return false;
  }
  return true;
}

bool requiresModel(std::string_view api_path) {
  for (std::string_view path : {"/v1/chat/completions", "/v1/completions", "/v1/embeddings",
                                "/v1/responses", "/v1/audio/speech"}) {
    if (api_path == path) {
      return true;
    }
  }
  return false;
}

}  // namespace fwd::dataplane::proxy
