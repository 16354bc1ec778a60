"""kapfinder.mapsvg without a browser: geometry a patient relies on (markers inside the picture,
numbers as given, directions right), tiles only when configured (no Flask in the module: see
tests/infra/test_architecture.py)."""
from __future__ import annotations

from kapfinder import mapsvg

AUSTIN = (30.2672, -97.7431)


def points(n: int, first: int = 1):
    return [{"number": first + i, "name": f"Clinic {first + i}", "anchor": f"result-{i}",
             "lat": AUSTIN[0] + 0.02 * i, "lon": AUSTIN[1] + 0.03 * (i % 3)} for i in range(n)]


def test_markers_and_the_searched_point_lie_inside_the_picture():
    picture = mapsvg.draw(points(20, first=21), AUSTIN, centre_label="Austin, TX", radius_mi=25)
    assert [m.number for m in picture.markers] == list(range(21, 41))
    for x, y in [(m.x, m.y) for m in picture.markers] + [picture.centre]:
        assert mapsvg.PADDING - 1 <= x <= picture.width - mapsvg.PADDING + 1
        assert mapsvg.PADDING - 1 <= y <= picture.height - mapsvg.PADDING + 1
    assert picture.tiles == []
    assert picture.grid and all(line.label.endswith(("N", "W")) for line in picture.grid)


def test_north_is_up_and_east_is_right_with_compass_words():
    north = {"number": 1, "name": "North", "anchor": "a", "lat": AUSTIN[0] + 0.1, "lon": AUSTIN[1]}
    east = {"number": 2, "name": "East", "anchor": "b", "lat": AUSTIN[0], "lon": AUSTIN[1] + 0.1}
    picture = mapsvg.draw([north, east], AUSTIN)
    n, e = picture.markers
    assert n.y < picture.centre[1] and abs(n.x - picture.centre[0]) < 1
    assert e.x > picture.centre[0] and abs(e.y - picture.centre[1]) < 1
    assert (n.direction, e.direction) == ("n", "e")
    assert n.distance_mi == 6.9 and e.distance_mi == 6.0  # great-circle miles, one decimal
    assert mapsvg.compass(*AUSTIN, AUSTIN[0] - 1, AUSTIN[1] - 1) == "sw"
    assert mapsvg.compass(*AUSTIN, *AUSTIN) is None


def test_scale_bar_is_true_to_the_distance():
    picture = mapsvg.draw(points(5), AUSTIN)
    # The scale bar's pixels per mile equal the picture's: two markers' pixel distance / their miles.
    north = {"number": 1, "name": "N", "anchor": "a", "lat": AUSTIN[0] + 0.1, "lon": AUSTIN[1]}
    far = mapsvg.draw([north], AUSTIN)
    px_per_mi = abs(far.centre[1] - far.markers[0].y) / far.markers[0].distance_mi
    assert abs(far.scale_px / far.scale_mi - px_per_mi) / px_per_mi < 0.02
    assert picture.scale_mi in mapsvg.SCALE_STEPS_MI


def test_one_clinic_alone_gets_a_sensible_zoom():
    picture = mapsvg.draw(points(1), None)
    assert picture.centre is None and picture.radius_px is None
    assert picture.markers[0].distance_mi is None
    assert picture.scale_mi <= 1  # zoomed to a few miles, not the whole country


def test_tiles_only_with_a_tile_url():
    url = "https://tiles.example.org/{z}/{x}/{y}.png"
    picture = mapsvg.draw(points(5), AUSTIN, tile_url=url)
    assert 0 < len(picture.tiles) <= mapsvg.MAX_TILES
    for tile in picture.tiles:
        assert tile.href.startswith("https://tiles.example.org/")
        z, x, y = (int(part) for part in tile.href.removesuffix(".png").split("/")[-3:])
        assert 0 <= x < 2 ** z and 0 <= y < 2 ** z
    # The tiles cover the whole picture.
    assert min(t.x for t in picture.tiles) <= 0 and min(t.y for t in picture.tiles) <= 0
    assert max(t.x + t.size for t in picture.tiles) >= picture.width
    assert max(t.y + t.size for t in picture.tiles) >= picture.height


def test_nothing_to_draw():
    assert mapsvg.draw([], None) is None
    assert mapsvg.for_results(None) is None
