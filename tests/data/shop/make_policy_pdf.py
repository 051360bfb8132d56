"""Writes policy.pdf (the sample shop's policies) with the tests' tiny PDF writer: `python tests/data/shop/make_policy_pdf.py`."""
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[3])]  # tests/, the repo
from conftest import pdf_bytes, wrap_paragraphs  # noqa: E402

PAGES = [
    [
        "Green Leaf Garden Centre - Customer Policies",
        "Returns and exchanges. You may return any unused item within 30 days of purchase with the receipt. "
        "Tools, pots and accessories must be in their original packaging. Sale items can be exchanged but not refunded.",
        "Refunds. Refunds are made to the original payment method within 5 working days after we receive the "
        "returned item. Delivery charges are refunded only when the item arrived faulty.",
        "Plant guarantee. Every indoor and outdoor plant is guaranteed healthy for 60 days. If a plant dies within "
        "60 days despite normal care, bring a photo or the plant with the receipt and we replace it free of charge once.",
    ],
    [
        "Damaged deliveries. If an order arrives broken or damaged, send us a photo within 48 hours of delivery and "
        "we send a replacement at no cost. Keep the packaging until the claim is settled.",
        "Tool warranty. Pruning shears, watering cans and other metal tools carry a two year manufacturer warranty "
        "against defects. Normal wear of blades and springs is not covered.",
        "Order cancellations. An online order can be cancelled free of charge until it is dispatched. After "
        "dispatch, please return it under the returns policy.",
        "Privacy. We keep your name, address and purchase history only to fulfil orders and run the loyalty club. "
        "We never sell personal data. Ask us to delete your data at any time by e-mail.",
    ],
]


def main() -> None:
    pages = [line for page in PAGES for line in wrap_paragraphs(page)]
    (Path(__file__).resolve().parent / "policy.pdf").write_bytes(pdf_bytes(pages))


if __name__ == "__main__":
    main()
