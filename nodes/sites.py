"""Site catalog: the cities of Henan and the national hubs of 东数西算, with their locations.

A site is a place with compute. The province's sites are its 17 prefecture cities and
Jiyuan (济源, a county-level city administered directly by the province), located at
their city centres. The national hubs (国家枢纽节点) of 东数西算 (East Data, West
Computing) are each located at one representative data-centre cluster, because round-trip
times are computed from the cluster, not from the region's capital.
"""

from __future__ import annotations

from dataclasses import dataclass

REGION_HENAN = "henan"
REGION_HUB = "hub"


@dataclass(frozen=True, slots=True)
class Site:
    """A place with compute; `site` is its id (lowercase pinyin or hub slug)."""

    site: str
    display_name: str
    region: str
    latitude: float
    longitude: float

    def __post_init__(self) -> None:
        assert self.site and self.site == self.site.strip().lower(), self.site
        assert self.region in (REGION_HENAN, REGION_HUB), self.region
        assert -90.0 <= self.latitude <= 90.0, self.latitude
        assert -180.0 <= self.longitude <= 180.0, self.longitude


class UnknownSiteError(ValueError):
    """A site id outside the catalog; the message lists the valid ids."""

    def __init__(self, site: str, valid: tuple[str, ...] | list[str]) -> None:
        self.site = site
        self.valid = tuple(sorted(valid))
        super().__init__(f'site "{site}" unknown; expected one of {", ".join(self.valid)}')


def _henan(site: str, name: str, lat: float, lon: float) -> Site:
    return Site(site, name, REGION_HENAN, lat, lon)


def _hub(site: str, name: str, lat: float, lon: float) -> Site:
    return Site(site, name, REGION_HUB, lat, lon)


# Order is the catalog's display order: the provincial capital first, then the other
# prefecture cities, Jiyuan, and the national hubs.
SITES: tuple[Site, ...] = (
    _henan("zhengzhou", "Zhengzhou 郑州", 34.7466, 113.6254),
    _henan("kaifeng", "Kaifeng 开封", 34.7972, 114.3076),
    _henan("luoyang", "Luoyang 洛阳", 34.6197, 112.4540),
    _henan("pingdingshan", "Pingdingshan 平顶山", 33.7353, 113.2999),
    _henan("anyang", "Anyang 安阳", 36.0976, 114.3925),
    _henan("hebi", "Hebi 鹤壁", 35.7476, 114.2974),
    _henan("xinxiang", "Xinxiang 新乡", 35.3030, 113.9268),
    _henan("jiaozuo", "Jiaozuo 焦作", 35.2159, 113.2420),
    _henan("puyang", "Puyang 濮阳", 35.7619, 115.0292),
    _henan("xuchang", "Xuchang 许昌", 34.0357, 113.8523),
    _henan("luohe", "Luohe 漯河", 33.5815, 114.0166),
    _henan("sanmenxia", "Sanmenxia 三门峡", 34.7728, 111.2003),
    _henan("nanyang", "Nanyang 南阳", 32.9907, 112.5283),
    _henan("shangqiu", "Shangqiu 商丘", 34.4143, 115.6564),
    _henan("xinyang", "Xinyang 信阳", 32.1470, 114.0913),
    _henan("zhoukou", "Zhoukou 周口", 33.6256, 114.6969),
    _henan("zhumadian", "Zhumadian 驻马店", 32.9802, 114.0226),
    _henan("jiyuan", "Jiyuan 济源", 35.0671, 112.6021),
    _hub("beijing-tianjin-hebei", "Beijing–Tianjin–Hebei 京津冀 (Zhangjiakou 张家口)", 40.8244, 114.8875),
    _hub("yangtze-delta", "Yangtze River Delta 长三角 (Wuhu 芜湖)", 31.3529, 118.4331),
    _hub("guangdong-hk-macao", "Guangdong–Hong Kong–Macao 粤港澳 (Shaoguan 韶关)", 24.8105, 113.5972),
    _hub("chengdu-chongqing", "Chengdu–Chongqing 成渝 (Chongqing 重庆)", 29.5630, 106.5516),
    _hub("inner-mongolia", "Inner Mongolia 内蒙古 (Horinger 和林格尔)", 40.3887, 111.8613),
    _hub("guizhou", "Guizhou 贵州 (Gui'an 贵安)", 26.3800, 106.4200),
    _hub("gansu", "Gansu 甘肃 (Qingyang 庆阳)", 35.7096, 107.6432),
    _hub("ningxia", "Ningxia 宁夏 (Zhongwei 中卫)", 37.5149, 105.1896),
)

_BY_ID: dict[str, Site] = {s.site: s for s in SITES}
assert len(_BY_ID) == len(SITES), "site ids must be unique"
assert sum(s.region == REGION_HENAN for s in SITES) == 18
assert sum(s.region == REGION_HUB for s in SITES) == 8


def site_ids() -> tuple[str, ...]:
    """Every site id, in catalog order."""
    return tuple(_BY_ID)


def get_site(site: str) -> Site:
    """The catalog entry for `site`; raises UnknownSiteError for an id outside the catalog."""
    try:
        return _BY_ID[site]
    except (KeyError, TypeError):
        raise UnknownSiteError(str(site), tuple(_BY_ID)) from None
