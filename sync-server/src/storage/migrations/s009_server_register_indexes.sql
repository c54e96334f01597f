-- Server schema version 9: the server does not keep the devices' indexes of the register by
-- building and by grid where no server read uses them. A phone lists a building's households
-- and a grid's residents through them; the server never reads households by building or
-- residents by grid (its feed is `row_meta`, its scope checks read a record by id, a deleted
-- household's residents are found through `residents_household`, the console counts households
-- per grid through `households_grid`), while every household and resident it stores paid for an
-- entry. Households paid the most: a batch's households share one building, so each insert
-- compared whole building ids before reaching the room.
DROP INDEX IF EXISTS households_building;
DROP INDEX IF EXISTS residents_grid;
