// The pet story through the generated typescript-axios client, against a live petstore.
// Usage: node dist/flow.js BASE_URL TOKEN. Prints what it saw as one JSON line; tests/live/test_clients.py checks it.
import { AxiosError } from "axios";
import { Configuration, PetsApi } from "./client";

async function statusOf(call: Promise<unknown>): Promise<number> {
    try {
        await call;
        return 0;
    } catch (error) {
        if (error instanceof AxiosError && error.response !== undefined) {
            return error.response.status;
        }
        throw error;
    }
}

async function main(): Promise<void> {
    const [basePath, accessToken] = process.argv.slice(2);
    // No proxy, whatever the environment says: the service is on 127.0.0.1.
    const configuration = new Configuration({ basePath, accessToken, baseOptions: { proxy: false, timeout: 10000 } });
    const pets = new PetsApi(configuration);

    const listedBefore = (await pets.listPets()).data;
    const created = await pets.createPet({ pet: { name: "Rex", description: "A good dog" } });
    const itemId = created.data.id;
    if (itemId === undefined) {
        throw new Error("the created pet has no id");
    }
    const listed = (await pets.listPets()).data;
    const fetched = await pets.getPet({ itemId });
    const etag = String(fetched.headers["etag"]);
    // Send back what was fetched, read-only fields included, with a new name.
    const replaced = await pets.replacePet({ itemId, ifMatch: etag, pet: { ...fetched.data, name: "Max" } });
    const staleStatus = await statusOf(pets.replacePet({ itemId, ifMatch: etag, pet: { name: "Stale" } }));
    // PATCH one field with a merge patch; the same ETag a second time is stale.
    const patchEtag = String((await pets.getPet({ itemId })).headers["etag"]);
    const patched = await pets.updatePet({ itemId, ifMatch: patchEtag, petPatch: { description: "Patched" } });
    const stalePatchStatus = await statusOf(
        pets.updatePet({ itemId, ifMatch: patchEtag, petPatch: { name: "Stale" } }),
    );
    // Filters and sort are parameters of listPets.
    for (const name of ["Bella", "Fred"]) {
        await pets.createPet({ pet: { name } });
    }
    const filteredNames = (await pets.listPets({ nameIn: ["Max", "Fred"], sort: "-name" })).data.map((pet) => pet.name);
    const containingNames = (await pets.listPets({ nameContains: "E", sort: "name" })).data.map((pet) => pet.name);
    const current = await pets.getPet({ itemId });
    const deleted = await pets.deletePet({ itemId, ifMatch: String(current.headers["etag"]) });
    const afterDeleteStatus = await statusOf(pets.getPet({ itemId }));

    console.log(
        JSON.stringify({
            listedBefore,
            created: { status: created.status, data: created.data },
            listedNames: listed.map((pet) => pet.name),
            fetched: { data: fetched.data, etag },
            replaced: { status: replaced.status, data: replaced.data },
            staleStatus,
            patched: { status: patched.status, data: patched.data },
            stalePatchStatus,
            filteredNames,
            containingNames,
            currentName: current.data.name,
            deletedStatus: deleted.status,
            afterDeleteStatus,
        }),
    );
}

main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
});
