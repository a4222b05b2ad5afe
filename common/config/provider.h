// Providers as operators write them (fwdctl --provider, `-o json`): "openai", "azure",
// "dashscope", "replicate", numbered as fwd.v1.Provider; and the prompt templates of Replicate's
// models (fwdctl --prompt-template).
#pragma once

#include <optional>
#include <string_view>

namespace fwd::common::config {

/// fwd.v1.Provider's number for `name`, or nullopt for a name that is none.
inline std::optional<int> parseProvider(std::string_view name) {
  if (name == "openai") {
    return 1;
  }
  if (name == "azure") {
    return 2;
  }
  if (name == "dashscope") {
    return 3;
  }
  if (name == "replicate") {
    return 4;
  }
  return std::nullopt;
}

/// The name of fwd.v1.Provider `provider`: "openai" for PROVIDER_UNSPECIFIED (the default), ""
/// for a number that is none.
inline std::string_view providerName(int provider) {
  switch (provider) {
    case 0:
    case 1:
      return "openai";
    case 2:
      return "azure";
    case 3:
      return "dashscope";
    case 4:
      return "replicate";
    default:
      return "";
  }
}

/// The prompt templates fwd renders chat messages with for Replicate's models.
inline constexpr std::string_view kPromptTemplates[] = {"mistral", "llama2", "llama3", "chatml",
                                                        "plain"};
/// The template of a model that has none configured.
inline constexpr std::string_view kDefaultPromptTemplate = "mistral";

inline bool isPromptTemplate(std::string_view name) {
  for (std::string_view t : kPromptTemplates) {
    if (t == name) {
      return true;
    }
  }
  return false;
}

}  // namespace fwd::common::config
