"""Reference data for the sample orders: products, people, addresses, phone formats, taxes.

Everything is fictitious: e-mail domains are example.com/.org/.net, phone numbers use the
ranges reserved for drama and documentation where a country has them (US/CA 555-01xx,
UK 020 7946 0xxx / 07700 900xxx, AU 0491 570 xxx), IPs are documentation ranges.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from random import Random

STORE_URL = "https://sandbox-store.example"


@dataclass(frozen=True)
class Attribute:
    taxonomy: str  # e.g. "pa_size"
    label: str  # e.g. "Size"
    options: tuple[str, ...]


@dataclass(frozen=True)
class Product:
    product_id: int
    name: str
    sku: str
    price: Decimal  # in USD
    image_id: int
    attributes: tuple[Attribute, ...] = ()

    @property
    def image_src(self) -> str:
        slug = self.name.lower().replace(" ", "-")
        return f"{STORE_URL}/wp-content/uploads/2025/03/{slug}.jpg"


_SIZES = Attribute("pa_size", "Size", ("S", "M", "L", "XL"))
PRODUCTS: tuple[Product, ...] = (
    Product(31, "Classic Crew T-Shirt", "TSHIRT", Decimal("24.00"), 231,
            (Attribute("pa_color", "Color", ("Black", "White", "Heather Grey")), _SIZES)),
    Product(32, "Pullover Hoodie", "HOODIE", Decimal("58.00"), 232,
            (Attribute("pa_color", "Color", ("Navy", "Forest Green")), _SIZES)),
    Product(33, "Canvas Tote Bag", "TOTE-NAT", Decimal("18.50"), 233),
    Product(34, "Stoneware Mug", "MUG-12OZ", Decimal("14.00"), 234),
    Product(35, "Merino Beanie", "BEANIE", Decimal("29.95"), 235,
            (Attribute("pa_color", "Color", ("Charcoal", "Mustard", "Oat")),)),
    Product(36, "Leather Card Wallet", "WALLET-BRN", Decimal("65.00"), 236),
    Product(37, "Trail Running Shoes", "SHOE-TRAIL", Decimal("129.99"), 237,
            (Attribute("pa_size", "Size", ("US 8", "US 9", "US 10", "US 11")),)),
    Product(38, "Insulated Water Bottle", "BOTTLE-750", Decimal("32.00"), 238,
            (Attribute("pa_color", "Color", ("Sage", "Slate")),)),
    Product(39, "Aviator Sunglasses", "SUN-AVI", Decimal("145.00"), 239),
)


@dataclass(frozen=True)
class Country:
    code: str
    weight: int
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    addresses: tuple[tuple[str, str, str, str], ...]  # address_1, city, state, postcode
    phone_formats: tuple[str, ...]  # "#" is a random digit
    currencies: tuple[str, ...]  # the first is the country's own; picked uniformly after that (repeat to weight)
    tax_label: str
    tax_rates: dict[str, Decimal]  # state → rate; "" is the default
    taxes_shipping: bool
    flat_rate: Decimal


COUNTRIES: tuple[Country, ...] = (
    Country("US", 50,
            ("Emma", "Liam", "Olivia", "Noah", "Ava", "Ethan", "Sophia", "Mason", "Harper", "Lucas"),
            ("Johnson", "Williams", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez", "O'Brien", "Nguyen", "Clark"),
            (("1200 Market St", "San Francisco", "CA", "94102"), ("350 Fifth Ave", "New York", "NY", "10118"),
             ("2100 Congress Ave", "Austin", "TX", "78701"), ("85 Pike St", "Seattle", "WA", "98101"),
             ("455 N Cityfront Plaza Dr", "Chicago", "IL", "60611"), ("16 Fairway Dr", "Atherton", "CA", "94027")),
            ("(415) 555-01##", "212-555-01##", "+1 512 555 01##", "20655501##"),
            ("USD",), "Sales Tax",
            {"CA": Decimal("0.0725"), "NY": Decimal("0.04"), "TX": Decimal("0.0625"), "WA": Decimal("0.065"),
             "IL": Decimal("0.0625"), "": Decimal("0.05")},
            False, Decimal("7.95")),
    Country("CA", 12,
            ("Chloe", "Owen", "Maya", "Jacob", "Léa", "William"),
            ("Tremblay", "Roy", "Wilson", "MacDonald", "Gagnon", "Singh"),
            (("290 Bremner Blvd", "Toronto", "ON", "M5V 3L9"), ("1055 W Georgia St", "Vancouver", "BC", "V6E 3P3"),
             ("1000 Rue Sherbrooke O", "Montréal", "QC", "H3A 3G4")),
            ("(416) 555-01##", "604-555-01##", "+1 514 555 01##"),
            ("CAD", "CAD", "USD"), "HST",
            {"ON": Decimal("0.13"), "": Decimal("0.05")},
            True, Decimal("12.00")),
    Country("GB", 12,
            ("Oliver", "Amelia", "George", "Isla", "Harry", "Freya"),
            ("Smith", "Jones", "Taylor", "Brown", "Evans", "Wright"),
            (("221B Baker Street", "London", "", "NW1 6XE"), ("14 Deansgate", "Manchester", "", "M3 2BW"),
             ("3 Royal Crescent", "Bath", "", "BA1 2LR")),
            ("020 7946 0###", "07700 900###", "+44 7700 900###"),
            ("GBP", "GBP", "USD"), "VAT",
            {"": Decimal("0.20")},
            True, Decimal("19.00")),
    Country("DE", 10,
            ("Lukas", "Mia", "Jonas", "Hannah", "Felix", "Lea"),
            ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker"),
            (("Unter den Linden 77", "Berlin", "", "10117"), ("Marienplatz 8", "München", "", "80331"),
             ("Jungfernstieg 12", "Hamburg", "", "20354")),
            ("+49 30 ######", "030 ########", "0171 #######"),
            ("EUR",), "MwSt.",
            {"": Decimal("0.19")},
            True, Decimal("19.00")),
    Country("AU", 8,
            ("Jack", "Charlotte", "William", "Matilda", "Thomas", "Ruby"),
            ("Wilson", "Anderson", "Thompson", "Kelly", "Walker", "Ryan"),
            (("1 Macquarie St", "Sydney", "NSW", "2000"), ("200 Collins St", "Melbourne", "VIC", "3000"),
             ("88 Queen St", "Brisbane", "QLD", "4000")),
            ("0491 570 ###", "(02) 5550 ####", "+61 491 570 ###"),
            ("USD",), "GST",
            {"": Decimal("0.10")},
            True, Decimal("24.00")),
    Country("BR", 8,
            ("João", "Ana", "Pedro", "Beatriz", "Gabriel", "Larissa"),
            ("Silva", "Santos", "Oliveira", "Souza", "Pereira", "Costa"),
            (("Av. Paulista, 1578", "São Paulo", "SP", "01310-200"),
             ("Av. Atlântica, 1702", "Rio de Janeiro", "RJ", "22021-001")),
            ("(11) 9####-####", "+55 21 9####-####"),
            ("USD",), "",
            {"": Decimal("0")},
            False, Decimal("29.00")),
)

CURRENCY_SYMBOLS = {"USD": "$", "CAD": "$", "GBP": "£", "EUR": "€"}
CURRENCY_RATES = {"USD": Decimal("1"), "CAD": Decimal("1.36"), "GBP": Decimal("0.79"), "EUR": Decimal("0.92")}
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")

PAYMENT_METHODS = {
    "stripe": "Credit Card (Stripe)",
    "ppcp-gateway": "PayPal",
    "bacs": "Direct bank transfer",
}

USER_AGENTS = (
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.4 Safari/605.1.15"),
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.4 Mobile/15E148 Safari/604.1"),
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
)

CUSTOMER_NOTES = (
    "", "", "", "", "Please leave the parcel at the back door.", "It's a gift - no invoice in the box please.",
)

COUPONS = (
    # code, discount_type, nominal amount
    ("WELCOME10", "percent", Decimal("10")),
    ("SPRING15", "percent", Decimal("15")),
    ("SAVE5", "fixed_cart", Decimal("5")),
)

ORDER_PROTECTION_FEE = "Order Protection"
FREE_SHIPPING_THRESHOLD = Decimal("100")


def fill_digits(pattern: str, rng: Random) -> str:
    return "".join(str(rng.randint(0, 9)) if char == "#" else char for char in pattern)


def order_protection_premium(subtotal: Decimal) -> Decimal:
    """The shipping-protection premium a store charges for a cart subtotal (USD)."""
    if subtotal < 50:
        return Decimal("1.95")
    if subtotal < 150:
        return Decimal("2.50")
    return Decimal("3.95")
