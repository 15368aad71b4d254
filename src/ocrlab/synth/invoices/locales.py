"""The locales of the financial-document generator: number styles, date formats, tax rates,
captions, and the goods and services of line items, per language. Plain data (no heavy imports)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LocaleProfile:
    language: str  # key of CAPTIONS / ITEMS
    currency: str
    number_style: str
    date_format: str  # strftime; "{be}" is replaced by the Buddhist-era year (Thai)
    tax_rates: tuple[str, ...]  # percent, as printed
    tax_label: str
    script: str  # latin | cjk | thai: picks fonts and the rendering backend
    page_size: str
    tax_id_format: str  # '#' digit, '?' capital letter


LOCALES: dict[str, LocaleProfile] = {
    "en_US": LocaleProfile(
        "en", "USD", "en", "%m/%d/%Y", ("0", "6.25", "8.875"), "Sales tax", "latin", "LETTER", "##-#######"
    ),
    "en_GB": LocaleProfile(
        "en", "GBP", "en", "%d/%m/%Y", ("20", "5", "0"), "VAT", "latin", "A4", "GB#########"
    ),
    "de_DE": LocaleProfile("de", "EUR", "de", "%d.%m.%Y", ("19", "7"), "MwSt.", "latin", "A4", "DE#########"),
    "fr_FR": LocaleProfile(
        "fr", "EUR", "fr", "%d/%m/%Y", ("20", "10", "5.5"), "TVA", "latin", "A4", "FR###########"
    ),
    "ja_JP": LocaleProfile(
        "ja", "JPY", "en", "%Y年%m月%d日", ("10", "8"), "消費税", "cjk", "A4", "T#############"
    ),
    "en_IN": LocaleProfile(
        "en", "INR", "in", "%d-%m-%Y", ("18", "12", "5"), "GST", "latin", "A4", "##?????####?#Z#"
    ),
    "th_TH": LocaleProfile(
        "th", "THB", "en", "%d/%m/{be}", ("7",), "ภาษีมูลค่าเพิ่ม", "thai", "A4", "#############"
    ),
}


# Captions, one key a line: key|en|de|fr|ja|th.
_CAPTION_TEXT = """
invoice|INVOICE|RECHNUNG|FACTURE|請求書|ใบแจ้งหนี้
receipt|RECEIPT|QUITTUNG|REÇU|領収書|ใบเสร็จรับเงิน
credit_note|CREDIT NOTE|GUTSCHRIFT|AVOIR|返金伝票|ใบลดหนี้
number|No.|Nr.|N°|番号|เลขที่
issue_date|Date|Datum|Date|発行日|วันที่
due_date|Due date|Fällig am|Échéance|支払期限|ครบกำหนด
bill_to|Bill to|Rechnungsempfänger|Facturé à|請求先|ลูกค้า
from|From|Von|De|発行元|ผู้ขาย
description|Description|Beschreibung|Désignation|品名|รายการ
quantity|Qty|Menge|Qté|数量|จำนวน
unit_price|Unit price|Einzelpreis|Prix unitaire|単価|ราคาต่อหน่วย
amount|Amount|Betrag|Montant|金額|จำนวนเงิน
subtotal|Subtotal|Zwischensumme|Sous-total|小計|รวมเงิน
discount|Discount|Rabatt|Remise|値引き|ส่วนลด
shipping|Shipping|Versand|Livraison|送料|ค่าขนส่ง
total|Total|Gesamt|Total|合計|ยอดสุทธิ
terms|Payment terms|Zahlungsbedingungen|Conditions de paiement|支払条件|เงื่อนไขการชำระเงิน
notes|Notes|Hinweise|Remarques|備考|หมายเหตุ
phone|Tel|Tel.|Tél.|電話|โทร
email|Email|E-Mail|E-mail|メール|อีเมล
tax_id|Tax ID|USt-IdNr.|N° TVA|登録番号|เลขประจำตัวผู้เสียภาษี
continued|continued|Fortsetzung|suite|続き|ต่อ
page|Page|Seite|Page|ページ|หน้า
net_days|Net {days} days|Zahlbar innerhalb {days} Tagen|Paiement à {days} jours|{days}日以内にお支払いください|ชำระภายใน {days} วัน
due_on_receipt|Due on receipt|Sofort fällig|Payable à réception|受領時払い|ชำระทันที
paid|PAID|BEZAHLT|PAYÉ|支払済|ชำระแล้ว
credit_ref|Credit for invoice {ref}|Gutschrift zu Rechnung {ref}|Avoir sur facture {ref}|請求書 {ref} の返金|ลดหนี้ตามใบแจ้งหนี้ {ref}
thanks|Thank you for your business.|Vielen Dank für Ihren Auftrag.|Merci pour votre confiance.|ありがとうございました。|ขอบคุณที่ใช้บริการ
"""
_CAPTION_TABLE: dict[str, tuple[str, ...]] = {
    key: tuple(texts) for key, *texts in (line.split("|") for line in _CAPTION_TEXT.strip().splitlines())
}
CAPTIONS: dict[str, dict[str, str]] = {
    language: {key: texts[n] for key, texts in _CAPTION_TABLE.items()}
    for n, language in enumerate(("en", "de", "fr", "ja", "th"))
}

# (item, unit price range in USD-equivalent) per language; services get fractional quantities.
ITEMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "en": (
        (
            "Office chair",
            "Laser printer toner",
            "A4 copy paper (box)",
            "USB-C docking station",
            "LED desk lamp",
            "Wireless keyboard",
            "Steel filing cabinet",
            "Network switch 24-port",
            "Safety gloves (pack)",
            "Stainless steel bolts M8",
            "Industrial cleaner 5 L",
            "Shipping cartons",
            "27-inch monitor",
            "Conference table",
            "Printed brochures",
            "Hydraulic pump",
            "Solar panel 400 W",
        ),
        (
            "Consulting services",
            "Software licence (annual)",
            "On-site maintenance",
            "Website hosting",
            "Translation services",
            "Freight handling",
            "Cloud storage subscription",
            "Training workshop",
            "Legal advisory",
            "Equipment rental",
        ),
    ),
    "de": (
        (
            "Bürostuhl",
            "Tonerkartusche",
            "Kopierpapier A4 (Karton)",
            "Schreibtischlampe",
            "Funktastatur",
            "Aktenschrank aus Stahl",
            "Netzwerk-Switch",
            "Schutzhandschuhe",
            "Edelstahlschrauben M8",
            "Industriereiniger 5 l",
            "Versandkartons",
            "Monitor 27 Zoll",
            "Hydraulikpumpe",
        ),
        (
            "Beratungsleistung",
            "Softwarelizenz (jährlich)",
            "Wartung vor Ort",
            "Webhosting",
            "Übersetzung",
            "Schulung",
            "Gerätemiete",
        ),
    ),
    "fr": (
        (
            "Chaise de bureau",
            "Cartouche de toner",
            "Papier A4 (carton)",
            "Lampe de bureau",
            "Clavier sans fil",
            "Armoire métallique",
            "Commutateur réseau",
            "Gants de sécurité",
            "Vis inox M8",
            "Nettoyant industriel 5 L",
            "Cartons d'expédition",
            "Écran 27 pouces",
            "Pompe hydraulique",
        ),
        (
            "Prestation de conseil",
            "Licence logicielle (annuelle)",
            "Maintenance sur site",
            "Hébergement web",
            "Traduction",
            "Formation",
            "Location de matériel",
        ),
    ),
    "ja": (
        (
            "事務用椅子",
            "トナーカートリッジ",
            "コピー用紙A4",
            "デスクライト",
            "ワイヤレスキーボード",
            "スチール書庫",
            "ネットワークスイッチ",
            "作業用手袋",
            "ステンレスボルトM8",
            "業務用洗剤5L",
            "段ボール箱",
            "27インチモニター",
        ),
        (
            "コンサルティング費用",
            "ソフトウェア年間ライセンス",
            "保守作業費",
            "ウェブホスティング",
            "翻訳料",
            "研修費",
            "機器レンタル料",
        ),
    ),
    "th": (
        (
            "เก้าอี้สำนักงาน",
            "ตลับหมึกเครื่องพิมพ์",
            "กระดาษถ่ายเอกสาร A4",
            "โคมไฟตั้งโต๊ะ",
            "คีย์บอร์ดไร้สาย",
            "ตู้เอกสารเหล็ก",
            "สวิตช์เครือข่าย",
            "ถุงมือนิรภัย",
            "น็อตสแตนเลส M8",
            "น้ำยาทำความสะอาด 5 ลิตร",
            "กล่องกระดาษ",
            "จอภาพ 27 นิ้ว",
        ),
        (
            "ค่าที่ปรึกษา",
            "ค่าลิขสิทธิ์ซอฟต์แวร์รายปี",
            "ค่าบำรุงรักษา",
            "ค่าเช่าพื้นที่เว็บไซต์",
            "ค่าแปลเอกสาร",
            "ค่าฝึกอบรม",
            "ค่าเช่าอุปกรณ์",
        ),
    ),
}
# Clauses appended for the long_descriptions hard kind (wrapping over several lines).
DETAILS: dict[str, tuple[str, ...]] = {
    "en": (
        "including delivery, installation and configuration at the customer site",
        "as per framework agreement, batch and serial numbers listed in the delivery note",
        "billed monthly in arrears, covering all working days of the period",
    ),
    "de": (
        "inklusive Lieferung, Installation und Konfiguration beim Kunden",
        "gemäß Rahmenvertrag, Chargen- und Seriennummern laut Lieferschein",
    ),
    "fr": (
        "y compris livraison, installation et configuration chez le client",
        "selon contrat-cadre, numéros de lot et de série indiqués sur le bon de livraison",
    ),
    "ja": ("配送・設置・初期設定を含む", "基本契約に基づく、ロット番号および製造番号は納品書に記載"),
    "th": ("รวมค่าจัดส่ง ติดตั้ง และตั้งค่าระบบที่สถานที่ของลูกค้า", "ตามสัญญาหลัก หมายเลขล็อตและหมายเลขเครื่องระบุในใบส่งของ"),
}
# Rough USD value of one unit of each currency: prices look plausible in every currency.
_USD_PER_UNIT = {"USD": 1.0, "EUR": 1.08, "GBP": 1.27, "JPY": 0.0067, "INR": 0.012, "THB": 0.028, "CHF": 1.12}
