"""Plausible Zhejiang enterprises and outlets, as registry JSON dicts (``schemas.registry.entries``)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas.registry.entries import uscc_check_character

from .noise import key

__all__ = [
    "GAS_STANDARDS",
    "LIMITS_FROM",
    "ULTRA_LOW",
    "WATER_STANDARDS",
    "make_enterprises",
    "write_registry",
]

# Coal-fired units judged by the ultra-low emission limits (the standard's name in limits.csv).
ULTRA_LOW = "煤电节能减排升级与改造行动计划(2014—2020年)"
GAS_STANDARDS = (ULTRA_LOW, "GB 16297-1996")
WATER_STANDARDS = ("GB 18918-2002", "GB 8978-1996")


@dataclass(frozen=True, slots=True)
class _District:
    code: str  # GB/T 2260 administrative division code: USCC characters 3-8
    city_zh: str
    city_en: str
    name_zh: str
    name_en: str
    longitude: float
    latitude: float


_DISTRICTS = (
    _District("330109", "杭州市", "Hangzhou", "萧山区", "Xiaoshan", 120.264, 30.185),
    _District("330111", "杭州市", "Hangzhou", "富阳区", "Fuyang", 119.960, 30.049),
    _District("330206", "宁波市", "Ningbo", "北仑区", "Beilun", 121.844, 29.899),
    _District("330211", "宁波市", "Ningbo", "镇海区", "Zhenhai", 121.713, 29.949),
    _District("330303", "温州市", "Wenzhou", "龙湾区", "Longwan", 120.812, 27.933),
    _District("330481", "嘉兴市", "Jiaxing", "海宁市", "Haining", 120.681, 30.510),
    _District("330482", "嘉兴市", "Jiaxing", "平湖市", "Pinghu", 121.015, 30.676),
    _District("330522", "湖州市", "Huzhou", "长兴县", "Changxing", 119.911, 31.027),
    _District("330603", "绍兴市", "Shaoxing", "柯桥区", "Keqiao", 120.495, 30.082),
    _District("330604", "绍兴市", "Shaoxing", "上虞区", "Shangyu", 120.869, 30.033),
    _District("330782", "金华市", "Jinhua", "义乌市", "Yiwu", 120.075, 29.306),
    _District("330802", "衢州市", "Quzhou", "柯城区", "Kecheng", 118.871, 28.968),
    _District("330902", "舟山市", "Zhoushan", "定海区", "Dinghai", 122.106, 30.020),
    _District("331002", "台州市", "Taizhou", "椒江区", "Jiaojiang", 121.442, 28.673),
    _District("331102", "丽水市", "Lishui", "莲都区", "Liandu", 119.912, 28.446),
)

_BRANDS = (
    ("恒达", "Hengda"),
    ("宏盛", "Hongsheng"),
    ("永兴", "Yongxing"),
    ("金鑫", "Jinxin"),
    ("瑞丰", "Ruifeng"),
    ("天成", "Tiancheng"),
    ("新安", "Xin'an"),
    ("振华", "Zhenhua"),
    ("明辉", "Minghui"),
    ("嘉禾", "Jiahe"),
    ("众诚", "Zhongcheng"),
    ("联盛", "Liansheng"),
    ("鑫源", "Xinyuan"),
    ("荣昌", "Rongchang"),
    ("隆泰", "Longtai"),
    ("华瑞", "Huarui"),
    ("德润", "Derun"),
    ("广泰", "Guangtai"),
    ("信诚", "Xincheng"),
    ("东升", "Dongsheng"),
    ("丰源", "Fengyuan"),
    ("海纳", "Haina"),
    ("同创", "Tongchuang"),
    ("益鑫", "Yixin"),
)

_STREETS = (
    "经济技术开发区建设一路",
    "临江工业园区纬五路",
    "工业大道",
    "滨海大道",
    "化工园区东港路",
    "江东大道",
    "环城北路",
    "开发区兴业路",
)

# (outlet kind, emission standard, limit category, name_zh, name_en); "{n}" numbers outlets of
# one kind. The registry binds each outlet to its standard's category (a demo, not a permit).
_Plan = tuple[tuple[str, str, str, str, str], ...]
_BOILER = (
    "gas",
    ULTRA_LOW,
    "ultra-low-coal",
    "{n}号锅炉烟气排放口",
    "No. {n} boiler flue-gas stack",
)
_UNIT = ("gas", ULTRA_LOW, "ultra-low-coal", "{n}号机组烟囱", "No. {n} generating unit stack")
_PROCESS = (
    *("gas", "GB 16297-1996", "new-source"),
    *("{n}号工艺废气排放口", "No. {n} process exhaust stack"),
)
_STENTER = (
    *("gas", "GB 16297-1996", "new-source"),
    *("{n}号定型机废气排放口", "No. {n} stenter exhaust stack"),
)
_KILN = ("gas", "GB 16297-1996", "new-source", "{n}号窑尾排放口", "No. {n} kiln tail stack")
_WWTP = ("water", "GB 18918-2002", "class-1A", "{n}号总排放口", "No. {n} effluent outlet")
_EFFLUENT = (
    *("water", "GB 8978-1996", "grade-1"),
    *("{n}号废水总排放口", "No. {n} wastewater outlet"),
)
# The day the demo's bindings start (before any simulated data).
LIMITS_FROM = "2020-01-01"


@dataclass(frozen=True, slots=True)
class _Industry:
    name: str  # GB/T 4754-2017 class, as the registry's industry text
    suffix_zh: str
    suffix_en: str
    levels: tuple[str, ...]  # control_level, drawn uniformly (repeat to weight)
    plans: tuple[_Plan, ...]  # possible outlet sets (1-3 outlets each)


_INDUSTRIES = (
    _Industry(
        "火力发电 (D4411)",
        "热电有限公司",
        "Thermal Power Co., Ltd.",
        ("national", "national", "provincial"),
        ((_UNIT,), (_UNIT, _UNIT), (_UNIT, _UNIT, _UNIT)),
    ),
    _Industry(
        "污水处理及其再生利用 (D4620)",
        "水务有限公司",
        "Water Co., Ltd.",
        ("national", "provincial", "municipal"),
        ((_WWTP,), (_WWTP, _WWTP)),
    ),
    _Industry(
        "棉印染精加工 (C1713)",
        "印染有限公司",
        "Printing & Dyeing Co., Ltd.",
        ("provincial", "municipal", "municipal", "other"),
        ((_EFFLUENT,), (_EFFLUENT, _STENTER), (_EFFLUENT, _STENTER, _BOILER)),
    ),
    _Industry(
        "化学原料和化学制品制造业 (C26)",
        "化工有限公司",
        "Chemical Co., Ltd.",
        ("national", "provincial", "municipal"),
        ((_PROCESS, _EFFLUENT), (_PROCESS, _EFFLUENT, _BOILER), (_PROCESS, _PROCESS, _EFFLUENT)),
    ),
    _Industry(
        "机制纸及纸板制造 (C2221)",
        "纸业有限公司",
        "Paper Co., Ltd.",
        ("provincial", "municipal"),
        ((_BOILER, _EFFLUENT), (_EFFLUENT,), (_BOILER, _BOILER, _EFFLUENT)),
    ),
    _Industry(
        "水泥制造 (C3011)",
        "水泥有限公司",
        "Cement Co., Ltd.",
        ("provincial", "municipal", "other"),
        ((_KILN,), (_KILN, _KILN)),
    ),
)

_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _org_code(rng: random.Random) -> str:
    """A GB 11714 organisation code: 8 characters and its check character."""
    if rng.random() < 0.5:  # codes issued since the 2015 reform start with "MA"
        body = "MA" + "".join(rng.choice(_USCC_CHARS) for _ in range(6))
    else:
        body = "".join(rng.choice("0123456789") for _ in range(8))
    total = sum(int(c, 36) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return body + ("X" if check == 10 else "0" if check == 11 else str(check))


def _uscc(rng: random.Random, district: _District) -> str:
    """A GB 32100-2015 unified social credit code: 9 (registry: market regulation), 1 (enterprise),
    the division code, the organisation code and the check character."""
    first17 = "91" + district.code + _org_code(rng)
    return first17 + uscc_check_character(first17)


def _mn(rng: random.Random, vendor: str) -> str:
    """An EPC-96 style MN (HJ 212-2017 Table 3): header 01, manufacturer (28 bits), object class
    (24 bits), serial (36 bits), as 24 upper-case hex digits."""
    return f"01{vendor}{rng.getrandbits(24):06X}{rng.getrandbits(36):09X}"


def _outlets(
    rng: random.Random, plan: _Plan, lon: float, lat: float, vendors: list[str], uscc: str
) -> list[dict[str, Any]]:
    outlets: list[dict[str, Any]] = []
    counts = {"gas": 0, "water": 0}
    for kind, standard, category, name_zh, name_en in plan:
        counts[kind] += 1
        n = counts[kind]
        outlets.append(
            {
                "mn": _mn(rng, rng.choice(vendors)),
                "code": f"{'DA' if kind == 'gas' else 'DW'}{n:03d}",
                "name_zh": name_zh.format(n=n),
                "name_en": name_en.format(n=n),
                "kind": kind,
                "password": f"{rng.randrange(10**6):06d}",
                "crc_policy": "strict",
                "protocol_profile": "hj212-2017",
                "timezone": "Asia/Shanghai",
                "emission_standard": standard,
                "limit_category": category,
                "limits_from": LIMITS_FROM,
                "permit_number": f"{uscc}001P",
                "longitude": round(lon + rng.uniform(-0.002, 0.002), 6),
                "latitude": round(lat + rng.uniform(-0.002, 0.002), 6),
                "active": True,
            }
        )
    return outlets


def make_enterprises(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` plausible enterprises with 1-3 outlets each, deterministic for ``seed``.

    Plain dicts in the registry JSON shape (``EnterpriseIn.model_validate(d)`` accepts each).
    USCCs carry valid check characters; MNs are 24 upper-case hex digits, unique per seed.
    """
    if n < 0:
        raise ValueError(f"number of enterprises must be >= 0, got {n}")
    rng = random.Random(key("sourcewatch.simulation.enterprises", seed))
    vendors = [f"{rng.getrandbits(28):07X}" for _ in range(3)]
    enterprises: list[dict[str, Any]] = []
    names: set[str] = set()
    usccs: set[str] = set()
    mns: set[str] = set()
    while len(enterprises) < n:
        district = rng.choice(_DISTRICTS)
        industry = rng.choice(_INDUSTRIES)
        brand_zh, brand_en = rng.choice(_BRANDS)
        prefix_zh, prefix_en = rng.choice(
            (
                ("浙江", "Zhejiang"),
                (district.city_zh[:-1], district.city_en),
                (district.name_zh[:-1], district.name_en),
            )
        )
        name_zh = f"{prefix_zh}{brand_zh}{industry.suffix_zh}"
        name_en = f"{prefix_en} {brand_en} {industry.suffix_en}"
        if name_zh in names:  # many enterprises: number the plants
            plant = sum(1 for x in names if x.startswith(name_zh)) + 1
            name_zh, name_en = f"{name_zh}第{plant}分厂", f"{name_en}, Plant {plant}"
        uscc = _uscc(rng, district)
        if uscc in usccs:
            continue
        street = rng.choice(_STREETS)
        number = rng.randrange(1, 999)
        lon = round(district.longitude + rng.uniform(-0.08, 0.08), 6)
        lat = round(district.latitude + rng.uniform(-0.06, 0.06), 6)
        outlets = _outlets(rng, rng.choice(industry.plans), lon, lat, vendors, uscc)
        if any(o["mn"] in mns for o in outlets):
            continue
        names.add(name_zh)
        usccs.add(uscc)
        mns.update(o["mn"] for o in outlets)
        enterprises.append(
            {
                "uscc": uscc,
                "name_zh": name_zh,
                "name_en": name_en,
                "address": f"浙江省{district.city_zh}{district.name_zh}{street}{number}号",
                "district": f"{district.city_zh}{district.name_zh}",
                "industry": industry.name,
                "control_level": rng.choice(industry.levels),
                "longitude": lon,
                "latitude": lat,
                "outlets": outlets,
            }
        )
    return enterprises


def write_registry(path: Path, enterprises: list[dict[str, Any]]) -> None:
    """Write ``{"enterprises": [...]}`` as UTF-8 JSON, ready for ``sourcewatch registry import``."""
    text = json.dumps({"enterprises": enterprises}, ensure_ascii=False, indent=2)
    path.write_text(text + "\n", encoding="utf-8")
