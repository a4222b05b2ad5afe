// Providers as operators write them (fwdctl --provider, `-o json`): "openai", "azure",
// "dashscope", numbered
// as fwd.v1.Provider.
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
    default:
      return "";
  }
}

}  // namespace fwd::common::config
