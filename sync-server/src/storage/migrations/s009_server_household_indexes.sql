-- Server schema version 9: the server does not keep the devices' index of households by
-- building and room. A phone lists a building's households through it; the server never reads
-- households by building (its feed is `row_meta`, its scope checks read a record by id, its
-- console counts households per grid through `households_grid`), while every household it
-- stores paid for an entry in it, and the most for a batch's households, which share one
-- building: each insert compared whole building ids before reaching the room.
DROP INDEX IF EXISTS households_building;
