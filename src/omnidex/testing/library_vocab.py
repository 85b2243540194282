"""Word lists of the generated relevance library (:mod:`omnidex.testing.library`).

Every spoken word here was checked against Whisper tiny.en listening to espeak-ng ``en-us`` at
150 words per minute: the family subjects, the place values and the two fact frames come back
verbatim. Frames that failed that check ("now stops at", "a new spot", "a second site", "host a
party") and subjects that failed it ("city bus", "river ferry", "jazz concert", ...) are not used.
Words on screen, in posters and in documents are read by OCR or the text reader, not Whisper.
"""
from __future__ import annotations

# (title, paraphrase of the title sharing no content word with it). Titles share no word with
# each other or with a fact value, so a family is named by its title alone.
FAMILIES: tuple[tuple[str, str], ...] = (
    ("coast train", "railway along the shore"),
    ("cable car", "aerial gondola"),
    ("summer camp", "holiday retreat for kids"),
    ("sailing club", "yacht society"),
    ("cooking class", "culinary lessons"),
    ("music hall", "concert venue"),
    ("pizza place", "italian restaurant"),
    ("coffee shop", "espresso bar"),
    ("science museum", "exhibition about physics and chemistry"),
    ("swimming pool", "public baths"),
    ("mountain hotel", "alpine inn"),
    ("farm shop", "agricultural store"),
    ("flower show", "botanical exhibition"),
    ("film festival", "movie gala"),
    ("book fair", "literature expo"),
    ("fire station", "brigade headquarters"),
    ("food truck", "mobile kitchen van"),
    ("ice rink", "skating arena"),
    ("art school", "painting academy"),
    ("dog shelter", "animal rescue home"),
    ("radio station", "broadcaster"),
    ("chocolate factory", "candy plant"),
    ("bowling alley", "tenpin lanes"),
    ("golf course", "putting greens"),
)

# Places a sibling video's narration names: the one spoken fact that tells siblings apart.
PLACES: tuple[str, ...] = (
    "airport", "stadium", "forest", "hospital", "lake", "beach", "island", "harbor", "market",
    "garden", "prison", "palace", "canal", "temple", "village", "desert", "volcano", "library",
    "office", "bridge", "tower", "castle",
)

# Spoken fact frames: (narration, paraphrase query, fact query). {s} = title, {p} = its
# paraphrase, {v} = the place. A paraphrase shares only {v} with the narration.
FRAMES: tuple[tuple[str, str, str], ...] = (
    ("the {s} has moved next to the {v}", "the {p} relocated beside the {v}", "{s} moved next to the {v}"),
    ("the {s} will open a new branch near the {v}", "the {p} plans another location by the {v}",
     "{s} opening a new branch near the {v}"),
)
INTRO = "welcome to this short report on the {s}"
CLOSING = "thank you for watching this short report"

# On-screen facts (slides with no narration). {V} = value, {S} = title (upper case).
SCREEN_ANIMALS: tuple[str, ...] = (
    "FOX", "BEAR", "OWL", "WOLF", "EAGLE", "HORSE", "TIGER", "RABBIT", "DOLPHIN", "PANDA", "CAMEL", "PARROT",
)
SCREEN_FRAMES: tuple[tuple[str, str, str], ...] = (
    # (slide with title, slide without title, query)
    ("{S}: MEET AT THE {V} STATUE", "MEET AT THE {V} STATUE", "{s} meeting point at the {v} statue"),
    ("{S} TICKETS FROM {V} DOLLARS", "TICKETS FROM {V} DOLLARS", "{s} tickets from {v} dollars"),
)

# Poster labels: a family's posters differ by label; "tight" posters glue the two words.
POSTER_LABELS: tuple[str, ...] = (
    "PARKING PERMIT", "LOST PROPERTY", "STAFF ENTRANCE", "GRAND OPENING", "PRIVATE EVENT",
    "VISITOR PASS", "EXIT ONLY", "WAITING ROOM",
)
POSTER_QUERIES: tuple[str, ...] = ("{s} {l} sign", "{l} poster of the {s}", "{s} {l}")

# Document facts: one value per document and section.
DAYS: tuple[str, ...] = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
RARE_ITEMS: tuple[str, ...] = (
    "sandbags", "lanterns", "hammocks", "snorkels", "umbrellas", "blankets", "flashlights",
    "wheelbarrows", "binoculars", "raincoats", "compasses", "ladders", "toolboxes", "candles",
)
NAMES: tuple[str, ...] = (
    "Alice", "Bruno", "Carmen", "Dmitri", "Elena", "Farid", "Greta", "Hiroshi", "Ingrid", "Jonas",
    "Kamala", "Lorenzo",
)
# (heading, body sentences, query). {s} = title, {v} = the section's value.
DOC_SECTIONS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "schedule": ("Schedule", (
        "The {s} is open every {v} from nine in the morning until five in the afternoon.",
        "Groups should book a week ahead, and the doors close early before public holidays.",
        "Late arrivals are welcome but may find the popular rooms full.",
        "Opening times can change at short notice, so check the board by the door."), "{s} open every {v}"),
    "supplies": ("Supplies", (
        "Volunteers at the {s} keep the {v} in the back room next to the stairs.",
        "Ask a member of staff before taking anything, and return it clean and dry.",
        "A list on the door shows what was borrowed this month.",
        "Broken equipment should be reported to the duty manager straight away."), "where does the {s} keep the {v}"),
    "contact": ("Contact", (
        "Questions about the {s} go to {v} at the front desk.",
        "Letters are answered within three working days; urgent matters by telephone.",
        "Please include your membership number in every message.",
        "The desk is staffed by volunteers, so replies can take longer in busy weeks."), "ask {v} at the {s} front desk"),
}
DOC_INTRO = (
    "These notes describe the {s} for visitors and members.",
    "Please read them before your first visit, and keep them for later reference.",
)

# Background material: no family word, no query word.
NEUTRAL_SENTENCES: tuple[str, ...] = (
    "The committee reviewed the annual budget and approved the draft without changes.",
    "Minutes of the previous meeting were circulated by email on the same afternoon.",
    "The spreadsheet lists every invoice together with its due date and amount.",
    "A new printer was installed on the third floor next to the kitchenette.",
    "The quarterly survey had more answers than the one before it.",
    "Several colleagues asked for clearer labels on the shared folders.",
    "The software update finished overnight and no errors were reported.",
    "Parcels arriving after four are kept at reception until the next morning.",
    "The heating will be serviced during the first week of the month.",
    "Everyone is reminded to lock the cabinets before leaving the building.",
    "The archive boxes were moved to the basement storage area.",
    "A short training session on the new phone system is planned.",
    "Travel expenses must be submitted with receipts attached.",
    "The lift inspection certificate is displayed near the main staircase.",
    "Coffee mugs left in the sink will be collected on Fridays.",
    "The visitor badges are kept in the top drawer of the reception desk.",
)
NEUTRAL_CAPTIONS: tuple[str, ...] = (
    "CHAPTER ONE", "CHAPTER TWO", "PART A", "PART B", "INTERMISSION", "THE END", "SECTION 4",
    "APPENDIX", "OVERVIEW", "SUMMARY", "",
)
# Questions about things no generated file mentions (content words checked against the library).
OFF_TOPIC: tuple[str, ...] = (
    "symptoms of seasonal flu in children", "how to knit a wool sweater", "tax deadline for freelance workers",
    "penguin colonies in antarctica", "repairing a leaking kitchen faucet", "the rules of cricket explained",
    "when to plant tulip bulbs", "quantum computing for beginners", "wedding dress alterations",
    "vintage motorcycle restoration", "learn spanish verbs quickly", "cheap flights to tokyo",
    "javascript array sorting", "baby sleep routine", "decline of the roman empire",
    "dinosaur fossils in montana", "lactose free dessert ideas", "guitar chord progressions",
    "chess endgame strategies", "how glaciers carve valleys",
)

STOPWORDS = frozenset("""
a an the and or but of to in on at by for from with about into over under near next beside
is are was were be been being has have had will would can could should may might do does did
this that these those it its there their they them we our you your he she his her i me my
what which who whom where when why how not no yes all any each every some very just only also
than then so as if up down out off own same other another more most new
""".split())
