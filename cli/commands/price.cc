#include "cli/commands/price.h"

#include "cli/client/error_kind.h"
#include "common/config/money.h"

namespace fwd::cli::commands {
namespace {

using client::usageError;

// What fwdctl accepts: the control plane's bound (validate::kMaxPriceMicros).
constexpr std::uint64_t kMaxPriceMicros = 1'000'000'000'000ull;

const std::vector<FlagSpec>& amountFlags() {
  static const std::vector<FlagSpec> kFlags = {
      {"input", FlagKind::kValue, "USD", "US dollars per 1M prompt tokens, e.g. 2.50"},
      {"output", FlagKind::kValue, "USD", "US dollars per 1M completion tokens, e.g. 10"},
      {"cached-input", FlagKind::kValue, "USD",
       "US dollars per 1M cached prompt tokens (default: as --input)"},
  };
  return kFlags;
}

// Copies the amount flags given into `price`; a usage error names a flag that does not parse.
absl::Status applyAmounts(const FlagValues& flags, fwd::v1::Price& price) {
  for (const char* name : {"input", "output", "cached-input"}) {
    auto text = flags.value(name);
    if (!text) {
      continue;
    }
    auto micros = common::config::parseUsdMicros(*text, kMaxPriceMicros);
    if (!micros.ok()) {
      return usageError("--" + std::string(name) + ": " + std::string(micros.status().message()));
    }
    if (std::string_view(name) == "input") {
      price.set_input_usd_micros(*micros);
    } else if (std::string_view(name) == "output") {
      price.set_output_usd_micros(*micros);
    } else {
      price.set_cached_input_usd_micros(*micros);
    }
  }
  return absl::OkStatus();
}

std::string usd(std::uint64_t micros) { return "$" + common::config::formatUsdMicros(micros); }

std::string cachedCell(const fwd::v1::Price& p) {
  return p.has_cached_input_usd_micros() ? usd(p.cached_input_usd_micros()) : "as input";
}

// Sends the price and reports what was done.
absl::Status writePrice(client::AdminApi* api, const fwd::v1::Price& price, OutputFormat format,
                        std::ostream& out) {
  fwd::v1::SetPriceRequest request;
  *request.mutable_price() = price;
  auto response = api->setPrice(request);
  if (!response.ok()) {
    return response.status();
  }
  const fwd::v1::Price& p = response->price();
  if (format == OutputFormat::kJson) {
    writeJson(out, priceJson(p));
  } else {
    out << "price of \"" << p.model() << "\" " << (response->created() ? "set" : "replaced")
        << ": input " << usd(p.input_usd_micros()) << ", output " << usd(p.output_usd_micros())
        << ", cached input " << cachedCell(p) << " per 1M tokens (config version "
        << response->version() << ")\n";
  }
  return absl::OkStatus();
}

absl::StatusOr<Action> prepareSet(const Invocation& inv) {
  if (!inv.flags.has("input") || !inv.flags.has("output")) {
    return usageError("price set needs --input and --output (US dollars per 1M tokens)");
  }
  fwd::v1::Price price;
  price.set_model(inv.args.at(0));
  if (absl::Status s = applyAmounts(inv.flags, price); !s.ok()) {
    return s;
  }
  OutputFormat format = inv.global.output;
  return Action([price, format](client::AdminApi* api, std::ostream& out) {
    return writePrice(api, price, format, out);
  });
}

absl::StatusOr<Action> prepareUpdate(const Invocation& inv) {
  bool clear = inv.flags.boolValue("clear-cached-input").value_or(false);
  if (clear && inv.flags.has("cached-input")) {
    return usageError("--clear-cached-input and --cached-input cannot be used together");
  }
  if (!inv.flags.has("input") && !inv.flags.has("output") && !inv.flags.has("cached-input") &&
      !clear) {
    return usageError(
        "nothing to update: give --input, --output, --cached-input or --clear-cached-input");
  }
  fwd::v1::Price changes;
  if (absl::Status s = applyAmounts(inv.flags, changes); !s.ok()) {
    return s;
  }
  std::string model = inv.args.at(0);
  FlagValues flags = inv.flags;
  OutputFormat format = inv.global.output;
  // Read, change the fields given, write back: the price must exist (set creates one).
  return Action([model, changes, flags, clear, format](client::AdminApi* api,
                                                       std::ostream& out) -> absl::Status {
    fwd::v1::GetPriceRequest get;
    get.set_model(model);
    auto price = api->getPrice(get);
    if (!price.ok()) {
      return price.status();
    }
    if (flags.has("input")) {
      price->set_input_usd_micros(changes.input_usd_micros());
    }
    if (flags.has("output")) {
      price->set_output_usd_micros(changes.output_usd_micros());
    }
    if (flags.has("cached-input")) {
      price->set_cached_input_usd_micros(changes.cached_input_usd_micros());
    }
    if (clear) {
      price->clear_cached_input_usd_micros();
    }
    return writePrice(api, *price, format, out);
  });
}

absl::StatusOr<Action> prepareGet(const Invocation& inv) {
  fwd::v1::GetPriceRequest request;
  request.set_model(inv.args.at(0));
  OutputFormat format = inv.global.output;
  return Action([request, format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto price = api->getPrice(request);
    if (!price.ok()) {
      return price.status();
    }
    if (format == OutputFormat::kJson) {
      writeJson(out, priceJson(*price));
    } else {
      fwd::v1::ListPricesResponse one;
      *one.add_prices() = *price;
      out << priceTable(one);
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<Action> prepareList(const Invocation& inv) {
  OutputFormat format = inv.global.output;
  return Action([format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto response = api->listPrices(fwd::v1::ListPricesRequest());
    if (!response.ok()) {
      return response.status();
    }
    if (format == OutputFormat::kJson) {
      Json prices = Json::array();
      for (const fwd::v1::Price& p : response->prices()) {
        prices.push_back(priceJson(p));
      }
      writeJson(out, Json{{"prices", std::move(prices)}});
    } else {
      out << priceTable(*response);
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<Action> prepareRemove(const Invocation& inv) {
  fwd::v1::DeletePriceRequest request;
  request.set_model(inv.args.at(0));
  OutputFormat format = inv.global.output;
  return Action([request, format](client::AdminApi* api, std::ostream& out) -> absl::Status {
    auto response = api->deletePrice(request);
    if (!response.ok()) {
      return response.status();
    }
    if (format == OutputFormat::kJson) {
      writeJson(out, Json{{"model", request.model()}, {"version", response->version()}});
    } else {
      out << "price of \"" << request.model() << "\" removed (config version "
          << response->version() << ")\n";
    }
    return absl::OkStatus();
  });
}

}  // namespace

std::vector<CommandSpec> priceCommands() {
  std::vector<FlagSpec> update = amountFlags();
  update.push_back({"clear-cached-input", FlagKind::kBool, "", "price cached input as input"});
  return {
      {"price", "set", "MODEL", "--input USD --output USD [--cached-input USD]",
       "set (or replace) what a model's tokens cost, per 1M; MODEL may be a pattern (gpt-4o-*)",
       amountFlags(), prepareSet},
      {"price", "get", "MODEL", "", "show a model's price", {}, prepareGet},
      {"price", "list", "", "", "list every price", {}, prepareList},
      {"price", "update", "MODEL",
       "[--input USD] [--output USD] [--cached-input USD] [--clear-cached-input]",
       "change some of a price's amounts", update, prepareUpdate},
      {"price", "remove", "MODEL", "", "remove a model's price", {}, prepareRemove},
  };
}

Json priceJson(const fwd::v1::Price& p) {
  auto dollars = [](std::uint64_t micros) { return static_cast<double>(micros) / 1e6; };
  return Json{{"model", p.model()},
              {"input_usd_per_1m", dollars(p.input_usd_micros())},
              {"output_usd_per_1m", dollars(p.output_usd_micros())},
              {"cached_input_usd_per_1m", p.has_cached_input_usd_micros()
                                              ? Json(dollars(p.cached_input_usd_micros()))
                                              : Json(nullptr)},
              {"created", timestampJson(p.create_time())},
              {"updated", timestampJson(p.update_time())}};
}

std::string priceTable(const fwd::v1::ListPricesResponse& response) {
  Table table({"MODEL", "INPUT", "OUTPUT", "CACHED_INPUT", "UPDATED"});
  for (const fwd::v1::Price& p : response.prices()) {
    table.addRow({p.model(), usd(p.input_usd_micros()), usd(p.output_usd_micros()), cachedCell(p),
                  timestampCell(p.update_time())});
  }
  return table.render();
}

}  // namespace fwd::cli::commands
