#include "dataplane/usage/prices.h"

#include <algorithm>
#include <limits>

#include "common/match/glob.h"

namespace fwd::dataplane::usage {

PriceTable::PriceTable(const google::protobuf::RepeatedPtrField<fwd::v1::Price>& prices) {
  for (const fwd::v1::Price& p : prices) {
    Price price{
        p.input_usd_micros(), p.output_usd_micros(),
        p.has_cached_input_usd_micros() ? p.cached_input_usd_micros() : p.input_usd_micros()};
    if (p.model().find('*') == std::string::npos) {
      exact_.emplace(p.model(), price);
    } else {
      patterns_.emplace_back(p.model(), price);
    }
  }
  std::stable_sort(patterns_.begin(), patterns_.end(), [](const auto& a, const auto& b) {
    return a.first.size() != b.first.size() ? a.first.size() > b.first.size() : a.first < b.first;
  });
}

const Price* PriceTable::find(std::string_view model) const {
  if (auto it = exact_.find(model); it != exact_.end()) {
    return &it->second;
  }
  for (const auto& [pattern, price] : patterns_) {
    if (common::match::globMatch(pattern, model)) {
      return &price;
    }
  }
  return nullptr;
}

std::uint64_t costNanoUsd(const Usage& u, const Price& price) {
  // tokens × micro-USD per 1M tokens = pico-USD.
  std::uint64_t cached = std::min(u.cached, u.prompt);
  unsigned __int128 pico = static_cast<unsigned __int128>(u.prompt - cached) * price.input +
                           static_cast<unsigned __int128>(cached) * price.cached_input +
                           static_cast<unsigned __int128>(u.completion) * price.output;
  unsigned __int128 nano = (pico + 999) / 1000;
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  return nano > kMax ? kMax : static_cast<std::uint64_t>(nano);
}

}  // namespace fwd::dataplane::usage
