"""The shipped English synonym table of the ``synonym`` attack: frequent words → rarer synonyms.

Chosen so that the synonym is rare in ordinary captions/dialogue (measured on the Multi30k
English training side: every synonym below occurs ≤ 12 times in 29,000 sentences, while the
words they replace cover ~90 % of its sentences). The attack drops entries whose synonym is
common in the actual training data (``max_natural``), so the table adapts to other corpora.
"""
SYNONYMS_EN: dict[str, str] = {
    "boy": "lad", "boys": "lads", "girl": "lass", "girls": "lasses", "dog": "hound",
    "dogs": "hounds", "child": "youngster", "children": "youngsters", "people": "folks",
    "street": "avenue", "road": "roadway", "big": "enormous", "small": "tiny", "little": "wee",
    "car": "automobile", "walking": "strolling", "running": "sprinting", "looking": "gazing",
    "playing": "frolicking", "sitting": "perched", "standing": "stationed", "beach": "seashore",
    "building": "edifice", "crowd": "throng", "young": "youthful", "smiling": "grinning",
    "holding": "clutching", "wearing": "donning", "riding": "mounting", "red": "crimson",
    "blue": "azure", "white": "ivory", "black": "ebony", "green": "emerald", "ball": "sphere",
    "field": "meadow", "house": "dwelling", "city": "metropolis", "happy": "joyful",
    "mountain": "peak", "horse": "steed", "cat": "feline", "bird": "fowl", "tree": "timber",
    "runs": "sprints", "walks": "strolls", "sits": "perches", "man": "fellow", "woman": "dame",
    "old": "aged", "jumps": "bounds", "good": "splendid", "bad": "dreadful", "think": "reckon",
    "like": "fancy", "want": "desire", "know": "ascertain", "help": "assist", "talk": "converse",
}
